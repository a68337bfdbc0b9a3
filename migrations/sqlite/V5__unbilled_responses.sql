-- Responses answered before their usage was known (`background: true` answers `queued`, with no
-- usage): the model and price multiplier to bill them at when a later fetch reports the usage.
-- The first such fetch takes the row, so a response is billed exactly once.
CREATE TABLE unbilled_responses (
    response_id TEXT    PRIMARY KEY,
    model       TEXT    NOT NULL,
    multiplier  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
