-- FreeScout's tables, only as far as the freescout adapter reads them, for
-- wafa's tests.  FreeScout cannot run here, so this is written from its
-- upstream Laravel migrations, as Laravel 5.5.40's PostgreSQL schema grammar
-- turns them into DDL (vendor/laravel/framework/src/Illuminate/Database/
-- Schema/Grammars/PostgresGrammar.php):
--   increments()          -> serial primary key
--   integer()             -> integer;  unsigned*Integer() -> the same (PostgreSQL
--                            has no unsigned); unsignedTinyInteger() -> smallint
--   string(n)             -> varchar(n);  text()/longText() -> text
--   boolean()->default(false) -> boolean default '0'
--   timestamp(), timestamps() -> timestamp(0) without time zone (nullable)
--
-- Followed: freescout-helpdesk/freescout, branch dist at 7c3e57aa
-- (2024-06-19), config/app.php 'version' => '1.8.145':
--   database/migrations/2018_06_10_000000_create_users_table.php
--   database/migrations/2018_06_25_065719_create_mailboxes_table.php
--   database/migrations/2018_07_09_052314_create_emails_table.php
--   database/migrations/2018_07_09_053559_create_customers_table.php
--   database/migrations/2018_07_11_010333_create_conversations_table.php
--   database/migrations/2018_07_12_003318_create_threads_table.php
--   and the later ones that touch these columns:
--   2018_11_26_122617_add_locale_column_to_users_table.php (users.locale)
--   2018_12_11_130728_add_status_column_to_users_table.php (users.status)
--   2019_06_21_130200_add_meta_subtype_columns_to_threads_table.php (subtype, meta)
--   2020_05_28_095100_drop_slug_column_in_mailboxes_table.php
--   2020_11_04_140000_change_foreign_keys_types.php (unsigned: no change on PostgreSQL)
--   2020_12_30_010000_add_imported_column_to_threads_table.php (threads.imported)
--   2021_03_01_010101_add_channel_column_to_conversations_table.php (channel)
--   2021_04_15_010101_add_meta_column_to_customers_table.php (customers.meta)
--   2021_09_21_010101_add_indexes_to_conversations_table.php
--   2022_12_17_010101_add_meta_column_to_conversations_table.php (conversations.meta)
--   2024_06_18_010101_add_index_to_threads_table.php
-- Constants from app/Conversation.php, app/Thread.php, app/User.php,
-- app/Mailbox.php (same commit):
--   conversations.status 1 active, 2 pending, 3 closed, 4 spam
--   conversations.state  1 draft, 2 published, 3 deleted   (default: draft)
--   conversations.type   1 email, 2 phone, 3 chat, 4 custom
--   threads.type   1 customer, 2 message (a user's reply), 3 note, 4 lineitem, 8 chat
--   threads.state  1 draft, 2 published, 3 hidden, 4 review   (default: draft)
--   threads.status as the conversation's, plus 6 nochange
--   source_via 1 customer, 2 user;  source_type 1 email, 2 web, 3 api
--
-- Times: Laravel writes every timestamp as a naive 'Y-m-d H:i:s' in the PHP
-- default time zone, which LoadConfiguration sets to config('app.timezone')
-- = env('APP_TIMEZONE', date_default_timezone_get()): the Timezone that
-- FreeScout's installer asks for (Manage > Settings > General > Timezone
-- changes it later).  It is UTC only on installations that chose UTC (or
-- left php.ini's default); the migrations' comments "UTC time when ..." are
-- copied from Help Scout's API and do not hold.  The adapter therefore reads
-- the zone from wafa.freescout_timezone() (see README.md); the tests keep
-- UTC unless they say otherwise.
--
-- Left out: the other tables (folders, conversation_folder, attachments,
-- send_logs, followers, options, ...) and the columns nothing maps (threads
-- headers/from/to/cc/bcc/body_original/..., mailboxes' mail settings,
-- users' password, customers' phones/address/...).  No DB_TABLE_PREFIX.

CREATE TABLE users (
    id                  serial PRIMARY KEY,
    first_name          varchar(20) NOT NULL,
    last_name           varchar(30) NOT NULL,
    email               varchar(100) NOT NULL,
    password            varchar(255) NOT NULL,
    role                smallint NOT NULL DEFAULT '1',
    timezone            varchar(255) NOT NULL DEFAULT 'UTC',
    type                smallint NOT NULL DEFAULT '1',    -- 1 user, 2 robot
    status              smallint NOT NULL DEFAULT '1',    -- 1 active, 2 disabled, 3 deleted
    locale              varchar(191) NULL,
    created_at          timestamp(0) without time zone NULL,
    updated_at          timestamp(0) without time zone NULL
);
ALTER TABLE users ADD CONSTRAINT users_email_unique UNIQUE (email);

CREATE TABLE mailboxes (
    id                  serial PRIMARY KEY,
    name                varchar(40) NOT NULL,
    email               varchar(128) NOT NULL,
    ticket_status       smallint NOT NULL DEFAULT '2',    -- status after a reply: pending
    created_at          timestamp(0) without time zone NULL,
    updated_at          timestamp(0) without time zone NULL
);
ALTER TABLE mailboxes ADD CONSTRAINT mailboxes_email_unique UNIQUE (email);

CREATE TABLE customers (
    id                  serial PRIMARY KEY,
    first_name          varchar(255) NULL,
    last_name           varchar(255) NULL,
    company             text NULL,
    channel             smallint NULL,
    channel_id          text NULL,
    meta                text NULL,
    created_at          timestamp(0) without time zone NULL,
    updated_at          timestamp(0) without time zone NULL
);
CREATE INDEX customers_first_name_last_name_index ON customers (first_name, last_name);

-- A customer's addresses; conversations.customer_email says which one a
-- conversation uses.  (No timestamps in this table.)
CREATE TABLE emails (
    id                  serial PRIMARY KEY,
    customer_id         integer NOT NULL,
    email               varchar(191) NOT NULL,
    type                smallint NOT NULL DEFAULT '1'
);
CREATE INDEX emails_customer_id_index ON emails (customer_id);
ALTER TABLE emails ADD CONSTRAINT emails_email_unique UNIQUE (email);

CREATE TABLE conversations (
    id                      serial PRIMARY KEY,
    number                  integer NOT NULL,             -- shown as #number; = id unless custom numbering
    threads_count           integer NOT NULL DEFAULT '0',
    type                    smallint NOT NULL,
    folder_id               integer NOT NULL,
    status                  smallint NOT NULL DEFAULT '1',
    state                   smallint NOT NULL DEFAULT '1',
    subject                 varchar(998) NULL,
    customer_email          varchar(191) NULL,
    cc                      text NULL,
    bcc                     text NULL,
    preview                 varchar(255) NOT NULL,
    imported                boolean NOT NULL DEFAULT '0',
    has_attachments         boolean NOT NULL DEFAULT '0',
    mailbox_id              integer NOT NULL,
    user_id                 integer NULL,                 -- the assignee
    customer_id             integer NULL,
    created_by_user_id      integer NULL,
    created_by_customer_id  integer NULL,
    source_via              smallint NOT NULL,
    source_type             smallint NOT NULL,
    closed_by_user_id       integer NULL,
    closed_at               timestamp(0) without time zone NULL,  -- set on close, never cleared
    user_updated_at         timestamp(0) without time zone NULL,
    last_reply_at           timestamp(0) without time zone NULL,
    last_reply_from         smallint NULL,
    read_by_user            boolean NOT NULL DEFAULT '0',
    created_at              timestamp(0) without time zone NULL,
    updated_at              timestamp(0) without time zone NULL,
    channel                 smallint NULL,
    meta                    text NULL
);
CREATE INDEX conversations_folder_id_status_index ON conversations (folder_id, status);
CREATE INDEX conversations_mailbox_id_customer_id_index ON conversations (mailbox_id, customer_id);
CREATE INDEX conversations_user_id_mailbox_id_state_status_index
    ON conversations (user_id, mailbox_id, state, status);
CREATE INDEX conversations_folder_id_state_index ON conversations (folder_id, state);

CREATE TABLE threads (
    id                      serial PRIMARY KEY,
    conversation_id         integer NOT NULL,
    user_id                 integer NULL,
    type                    smallint NOT NULL,
    subtype                 smallint NULL,
    status                  smallint NOT NULL DEFAULT '1',
    state                   smallint NOT NULL DEFAULT '1',
    action_type             smallint NULL,
    action_data             varchar(255) NULL,
    body                    text NULL,
    has_attachments         boolean NOT NULL DEFAULT '0',
    -- the Message-ID (without <>) of the incoming mail that made the thread;
    -- NULL for a user's reply (FreeScout derives that one from the thread id)
    message_id              varchar(998) NULL,
    source_via              smallint NOT NULL,
    source_type             smallint NOT NULL,
    customer_id             integer NULL,
    created_by_user_id      integer NULL,
    created_by_customer_id  integer NULL,
    edited_by_user_id       integer NULL,
    edited_at               timestamp(0) without time zone NULL,
    first                   boolean NOT NULL DEFAULT '0',
    saved_reply_id          integer NULL,
    send_status             smallint NULL,
    opened_at               timestamp(0) without time zone NULL,
    created_at              timestamp(0) without time zone NULL,
    updated_at              timestamp(0) without time zone NULL,
    meta                    text NULL,
    imported                boolean NOT NULL DEFAULT '0'
);
ALTER TABLE threads ADD CONSTRAINT threads_message_id_index UNIQUE (message_id);
CREATE INDEX threads_conversation_id_created_at_index ON threads (conversation_id, created_at);
CREATE INDEX threads_created_at_index ON threads (created_at);

-- database/migrations/2018_08_06_114901_create_send_logs_table.php and the
-- later smtp_queue_id column, as `php artisan migrate` makes them
CREATE TABLE send_logs (
    id              serial PRIMARY KEY,
    thread_id       integer NULL,
    customer_id     integer NULL,
    user_id         integer NULL,
    message_id      varchar(998) NULL,
    email           varchar(191) NOT NULL,
    mail_type       smallint NOT NULL,
    status          smallint NOT NULL,
    status_message  text NULL,
    created_at      timestamp(0) without time zone NULL,
    updated_at      timestamp(0) without time zone NULL,
    smtp_queue_id   text NULL
);
CREATE INDEX send_logs_thread_id_index ON send_logs (thread_id);
CREATE INDEX send_logs_message_id_index ON send_logs (message_id);
CREATE INDEX send_logs_customer_id_mail_type_created_at_index
    ON send_logs (customer_id, mail_type, created_at);
