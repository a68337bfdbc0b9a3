-- Which user created a Responses object, and where: later calls about it
-- (`GET/DELETE /v1/responses/{id}`, `/cancel`, `/input_items`) must come from the same user and
-- go to the same channel and credential.
CREATE TABLE response_owners (
    response_id   TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL,
    channel_id    INTEGER NOT NULL,
    credential_id INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX response_owners_created ON response_owners (created_at);
