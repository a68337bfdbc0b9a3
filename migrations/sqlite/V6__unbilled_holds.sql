-- A response billed later keeps what its creating call held against the balance until a fetch
-- bills it: whose balance (`user_id`) and how much (`held`, exact decimal text). Read at start to
-- hold it again. Rows noted before this migration hold nothing.
ALTER TABLE unbilled_responses ADD COLUMN user_id INTEGER;
ALTER TABLE unbilled_responses ADD COLUMN held TEXT NOT NULL DEFAULT '0';
