-- Whether a token keeps its own list of channel groups (`token_channel_groups`) rather than
-- following its user group's. A token whose own list was emptied by deleting its groups keeps
-- that (empty) list instead of falling back to every group its user may use.
ALTER TABLE tokens ADD COLUMN own_channel_groups INTEGER NOT NULL DEFAULT 0;
UPDATE tokens SET own_channel_groups = 1
WHERE id IN (SELECT token_id FROM token_channel_groups);
