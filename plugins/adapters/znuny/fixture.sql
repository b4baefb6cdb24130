-- Tests only: the part of Znuny's schema that the znuny adapter reads, as
-- Znuny 7 creates it on PostgreSQL, and the lookup rows of a fresh install.
--
-- Followed: znuny/Znuny (https://github.com/znuny/Znuny), Znuny 7.1.x
-- (RELEASE: "VERSION = 7.1.x"):
--   scripts/database/schema.postgresql.sql          (commit 038d1547ceec)
--   scripts/database/initial_insert.postgresql.sql  (commit 09fae60763e2)
-- The column names, types, NULL/NOT NULL and defaults below are copied from
-- those files.  The four tables Znuny writes while a ticket moves (ticket,
-- article, article_data_mime, ticket_history) have every upstream column, so
-- that tests insert rows the way Znuny does; the lookup tables have only the
-- columns the adapter reads (plus the NOT NULL ones a row needs).  Znuny
-- 6.x / OTRS 6 have the same columns for everything used here.
--
-- Load into an empty database:  psql -v ON_ERROR_STOP=1 -d znuny -f fixture.sql

SET standard_conforming_strings TO ON;

-- ------------------------------------------------------------------ users
CREATE TABLE users (
    id serial NOT NULL,
    login VARCHAR (200) NOT NULL,
    pw VARCHAR (128) NOT NULL,
    title VARCHAR (50) NULL,
    first_name VARCHAR (100) NOT NULL,
    last_name VARCHAR (100) NOT NULL,
    valid_id SMALLINT NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT users_login UNIQUE (login)
);
-- an agent's e-mail address is a preference (key 'UserEmail'), not a column
CREATE TABLE user_preferences (
    user_id INTEGER NOT NULL,
    preferences_key VARCHAR (150) NOT NULL,
    preferences_value TEXT NULL
);
CREATE INDEX user_preferences_user_id ON user_preferences (user_id);

-- ------------------------------------------------------------------ customers
CREATE TABLE customer_user (
    id serial NOT NULL,
    login VARCHAR (200) NOT NULL,
    email VARCHAR (150) NOT NULL,
    customer_id VARCHAR (150) NOT NULL,
    pw VARCHAR (128) NULL,
    title VARCHAR (50) NULL,
    first_name VARCHAR (100) NOT NULL,
    last_name VARCHAR (100) NOT NULL,
    valid_id SMALLINT NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT customer_user_login UNIQUE (login)
);
-- 'UserLanguage' and 'UserTimeZone' of a customer user (user_id = login)
CREATE TABLE customer_preferences (
    user_id VARCHAR (250) NOT NULL,
    preferences_key VARCHAR (150) NOT NULL,
    preferences_value VARCHAR (250) NULL
);
CREATE INDEX customer_preferences_user_id ON customer_preferences (user_id);

-- ------------------------------------------------------------------ lookups
CREATE TABLE queue (
    id serial NOT NULL,
    name VARCHAR (200) NOT NULL,
    group_id INTEGER NOT NULL,
    system_address_id SMALLINT NOT NULL,
    salutation_id SMALLINT NOT NULL,
    signature_id SMALLINT NOT NULL,
    follow_up_id SMALLINT NOT NULL,
    follow_up_lock SMALLINT NOT NULL,
    valid_id SMALLINT NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT queue_name UNIQUE (name)
);

CREATE TABLE ticket_priority (
    id serial NOT NULL,
    name VARCHAR (200) NOT NULL,
    valid_id SMALLINT NOT NULL,
    color VARCHAR (25) NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT ticket_priority_name UNIQUE (name)
);

CREATE TABLE ticket_state (
    id serial NOT NULL,
    name VARCHAR (200) NOT NULL,
    comments VARCHAR (250) NULL,
    type_id SMALLINT NOT NULL,
    valid_id SMALLINT NOT NULL,
    color VARCHAR (25) NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT ticket_state_name UNIQUE (name)
);

CREATE TABLE ticket_state_type (
    id serial NOT NULL,
    name VARCHAR (200) NOT NULL,
    comments VARCHAR (250) NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT ticket_state_type_name UNIQUE (name)
);

CREATE TABLE article_sender_type (
    id serial NOT NULL,
    name VARCHAR (200) NOT NULL,
    comments VARCHAR (250) NULL,
    valid_id SMALLINT NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT article_sender_type_name UNIQUE (name)
);

CREATE TABLE ticket_history_type (
    id serial NOT NULL,
    name VARCHAR (200) NOT NULL,
    comments VARCHAR (250) NULL,
    valid_id SMALLINT NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT ticket_history_type_name UNIQUE (name)
);

-- ------------------------------------------------------------------ ticket
-- create_time / change_time: timestamp(0) WITHOUT time zone, written by
-- Znuny as current_timestamp (so in the TimeZone of Znuny's database
-- session); until_time and escalation_*: Unix seconds, 0 = none.
CREATE TABLE ticket (
    id bigserial NOT NULL,
    tn VARCHAR (50) NOT NULL,
    title VARCHAR (255) NULL,
    queue_id INTEGER NOT NULL,
    ticket_lock_id SMALLINT NOT NULL,
    type_id SMALLINT NULL,
    service_id INTEGER NULL,
    sla_id INTEGER NULL,
    user_id INTEGER NOT NULL,
    responsible_user_id INTEGER NOT NULL,
    ticket_priority_id SMALLINT NOT NULL,
    ticket_state_id SMALLINT NOT NULL,
    customer_id VARCHAR (150) NULL,
    customer_user_id VARCHAR (250) NULL,
    timeout INTEGER NOT NULL,
    until_time INTEGER NOT NULL,
    escalation_time INTEGER NOT NULL,
    escalation_update_time INTEGER NOT NULL,
    escalation_response_time INTEGER NOT NULL,
    escalation_solution_time INTEGER NOT NULL,
    archive_flag SMALLINT DEFAULT 0 NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT ticket_tn UNIQUE (tn)
);
CREATE INDEX ticket_customer_user_id ON ticket (customer_user_id);
CREATE INDEX ticket_ticket_state_id ON ticket (ticket_state_id);
CREATE INDEX ticket_user_id ON ticket (user_id);

CREATE TABLE ticket_history (
    id bigserial NOT NULL,
    name VARCHAR (200) NOT NULL,
    history_type_id SMALLINT NOT NULL,
    ticket_id BIGINT NOT NULL,
    article_id BIGINT NULL,
    type_id SMALLINT NOT NULL,
    queue_id INTEGER NOT NULL,
    owner_id INTEGER NOT NULL,
    priority_id SMALLINT NOT NULL,
    state_id SMALLINT NOT NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id)
);
CREATE INDEX ticket_history_history_type_id ON ticket_history (history_type_id);
CREATE INDEX ticket_history_ticket_id ON ticket_history (ticket_id);

-- ------------------------------------------------------------------ articles
-- Znuny 6+: visibility is article.is_visible_for_customer (OTRS 5 and older
-- had article_type_id instead); the mail headers and body are in
-- article_data_mime.
CREATE TABLE article (
    id bigserial NOT NULL,
    ticket_id BIGINT NOT NULL,
    article_sender_type_id SMALLINT NOT NULL,
    communication_channel_id BIGINT NOT NULL,
    is_visible_for_customer SMALLINT NOT NULL,
    search_index_needs_rebuild SMALLINT DEFAULT 1 NOT NULL,
    insert_fingerprint VARCHAR (64) NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id)
);
CREATE INDEX article_article_sender_type_id ON article (article_sender_type_id);
CREATE INDEX article_ticket_id ON article (ticket_id);

CREATE TABLE article_data_mime (
    id bigserial NOT NULL,
    article_id BIGINT NOT NULL,
    a_from VARCHAR NULL,
    a_reply_to VARCHAR NULL,
    a_to VARCHAR NULL,
    a_cc VARCHAR NULL,
    a_bcc VARCHAR NULL,
    a_subject VARCHAR (3800) NULL,
    a_message_id VARCHAR (3800) NULL,
    a_message_id_md5 VARCHAR (32) NULL,
    a_in_reply_to VARCHAR NULL,
    a_references VARCHAR NULL,
    a_content_type VARCHAR (250) NULL,
    a_body VARCHAR NULL,
    incoming_time INTEGER NOT NULL,
    content_path VARCHAR (250) NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id)
);
CREATE INDEX article_data_mime_article_id ON article_data_mime (article_id);

-- ------------------------------------------------------------------ notifications
-- Znuny's own ticket notifications (doctor.sql looks for active escalation ones)
CREATE TABLE notification_event (
    id serial NOT NULL,
    name VARCHAR (200) NOT NULL,
    valid_id SMALLINT NOT NULL,
    comments VARCHAR (250) NULL,
    create_time timestamp(0) NOT NULL,
    create_by INTEGER NOT NULL,
    change_time timestamp(0) NOT NULL,
    change_by INTEGER NOT NULL,
    PRIMARY KEY(id),
    CONSTRAINT notification_event_name UNIQUE (name)
);
CREATE TABLE notification_event_item (
    notification_id INTEGER NOT NULL,
    event_key VARCHAR (200) NOT NULL,
    event_value VARCHAR (200) NOT NULL
);
CREATE INDEX notification_event_item_notification_id ON notification_event_item (notification_id);

-- ================================================================== initial rows
-- In upstream order, so the ids are those of a fresh install (valid_id 1 = valid).
INSERT INTO users (first_name, last_name, login, pw, valid_id, create_by, create_time, change_by, change_time)
    VALUES ('Admin', 'Znuny', 'root@localhost', 'roK20XGbWEsSM', 1, 1, current_timestamp, 1, current_timestamp);

INSERT INTO ticket_state_type (name, comments, create_by, create_time, change_by, change_time) VALUES
    ('new', 'All new state types (default: viewable).', 1, current_timestamp, 1, current_timestamp),
    ('open', 'All open state types (default: viewable).', 1, current_timestamp, 1, current_timestamp),
    ('closed', 'All closed state types (default: not viewable).', 1, current_timestamp, 1, current_timestamp),
    ('pending reminder', 'All ''pending reminder'' state types (default: viewable).', 1, current_timestamp, 1, current_timestamp),
    ('pending auto', 'All ''pending auto *'' state types (default: viewable).', 1, current_timestamp, 1, current_timestamp),
    ('removed', 'All ''removed'' state types (default: not viewable).', 1, current_timestamp, 1, current_timestamp),
    ('merged', 'State type for merged tickets (default: not viewable).', 1, current_timestamp, 1, current_timestamp);

INSERT INTO ticket_state (name, comments, type_id, valid_id, color, create_by, create_time, change_by, change_time) VALUES
    ('new', 'New ticket created by customer.', 1, 1, '#50B5FFFF', 1, current_timestamp, 1, current_timestamp),
    ('closed successful', 'Ticket is closed successful.', 3, 1, '#3DD598FF', 1, current_timestamp, 1, current_timestamp),
    ('closed unsuccessful', 'Ticket is closed unsuccessful.', 3, 1, '#FC5A5AFF', 1, current_timestamp, 1, current_timestamp),
    ('open', 'Open tickets.', 2, 1, '#FFC542FF', 1, current_timestamp, 1, current_timestamp),
    ('removed', 'Customer removed ticket.', 6, 1, '#8D8D9BFF', 1, current_timestamp, 1, current_timestamp),
    ('pending reminder', 'Ticket is pending for agent reminder.', 4, 1, '#FF8A25FF', 1, current_timestamp, 1, current_timestamp),
    ('pending auto close+', 'Ticket is pending for automatic close.', 5, 1, '#FF8A25FF', 1, current_timestamp, 1, current_timestamp),
    ('pending auto close-', 'Ticket is pending for automatic close.', 5, 1, '#FF8A25FF', 1, current_timestamp, 1, current_timestamp),
    ('merged', 'State for merged tickets.', 7, 1, '#FF8A25FF', 1, current_timestamp, 1, current_timestamp);

INSERT INTO queue (name, group_id, system_address_id, salutation_id, signature_id, follow_up_id, follow_up_lock, valid_id, create_by, create_time, change_by, change_time) VALUES
    ('Postmaster', 1, 1, 1, 1, 1, 0, 1, 1, current_timestamp, 1, current_timestamp),
    ('Raw', 1, 1, 1, 1, 1, 0, 1, 1, current_timestamp, 1, current_timestamp),
    ('Junk', 1, 1, 1, 1, 1, 0, 1, 1, current_timestamp, 1, current_timestamp),
    ('Misc', 1, 1, 1, 1, 1, 0, 1, 1, current_timestamp, 1, current_timestamp);

INSERT INTO ticket_priority (name, valid_id, color, create_by, create_time, change_by, change_time) VALUES
    ('1 very low', 1, '#03c4f0ff', 1, current_timestamp, 1, current_timestamp),
    ('2 low', 1, '#83bfc8ff', 1, current_timestamp, 1, current_timestamp),
    ('3 normal', 1, '#cdcdcdff', 1, current_timestamp, 1, current_timestamp),
    ('4 high', 1, '#ffaaaaff', 1, current_timestamp, 1, current_timestamp),
    ('5 very high', 1, '#ff505eff', 1, current_timestamp, 1, current_timestamp);

INSERT INTO article_sender_type (name, valid_id, create_by, create_time, change_by, change_time) VALUES
    ('agent', 1, 1, current_timestamp, 1, current_timestamp),
    ('system', 1, 1, current_timestamp, 1, current_timestamp),
    ('customer', 1, 1, current_timestamp, 1, current_timestamp);

-- Upstream has about 50 history types; these are the ones a ticket's life
-- below writes (their ids differ from upstream's: the adapter joins by name).
INSERT INTO ticket_history_type (name, valid_id, create_by, create_time, change_by, change_time) VALUES
    ('NewTicket', 1, 1, current_timestamp, 1, current_timestamp),
    ('FollowUp', 1, 1, current_timestamp, 1, current_timestamp),
    ('SendAutoReply', 1, 1, current_timestamp, 1, current_timestamp),
    ('SendAnswer', 1, 1, current_timestamp, 1, current_timestamp),
    ('EmailCustomer', 1, 1, current_timestamp, 1, current_timestamp),
    ('AddNote', 1, 1, current_timestamp, 1, current_timestamp),
    ('OwnerUpdate', 1, 1, current_timestamp, 1, current_timestamp),
    ('SetPendingTime', 1, 1, current_timestamp, 1, current_timestamp),
    ('StateUpdate', 1, 1, current_timestamp, 1, current_timestamp),
    ('Merged', 1, 1, current_timestamp, 1, current_timestamp);

-- The default notifications 11 and 12 of a fresh install: Znuny's own
-- escalation mails, active (valid_id 1) out of the box.
INSERT INTO notification_event (id, name, valid_id, comments, create_by, create_time, change_by, change_time) VALUES
    (11, 'Ticket escalation notification', 1, '', 1, current_timestamp, 1, current_timestamp),
    (12, 'Ticket escalation warning notification', 1, '', 1, current_timestamp, 1, current_timestamp);
SELECT setval('notification_event_id_seq', 12);
INSERT INTO notification_event_item (notification_id, event_key, event_value) VALUES
    (11, 'Events', 'NotificationEscalation'),
    (11, 'Recipients', 'AgentMyQueues'),
    (11, 'Transports', 'Email'),
    (12, 'Events', 'NotificationEscalationNotifyBefore'),
    (12, 'Recipients', 'AgentMyQueues'),
    (12, 'Transports', 'Email');
