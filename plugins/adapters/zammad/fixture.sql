-- Zammad 6.x tables as Zammad creates them on PostgreSQL, cut down to the
-- tables and columns the zammad adapter reads.  For tests only.
--
-- Followed (github.com/zammad/zammad):
--   db/migrate/20120101000001_create_base.rb     users, groups
--     (read at 5df98684, the 5.x/6.x layout; Migration[4.2])
--   db/migrate/20120101000010_create_ticket.rb   ticket_state_types, ticket_states,
--     ticket_priorities, tickets, ticket_article_types, ticket_article_senders,
--     ticket_articles, slas  (read at 02380592, develop after 6.x; the columns
--     used here are the same in 6.x)
--   the GroupHierarchy migration (6.0): groups.name becomes the full path
--     "Parent › Child" and name_last/parent_id are added;
--     db/migrate/20240314105755_group_max_level_extension.rb widens groups.name
--     to 160 * 10 + 2 * 9 = 1618
--   db/seeds/ticket_state_types.rb, ticket_states.rb, ticket_priorities.rb,
--     ticket_article_senders.rb, ticket_article_types.rb, user_nr_1.rb: the ids
--     and names below
--   app/models/ticket/article/has_ticket_contact_attributes_impact.rb: how
--     Zammad itself sets first_response_at and last_contact_*_at
--
-- Types, as Rails writes them for PostgreSQL:
--   Migration[4.2] create_table: id serial (integer); t.references: integer
--   :string, limit: N   -> character varying(N)
--   :text               -> text
--   :timestamp/:datetime, limit: 3 and t.timestamps limit: 3
--                       -> timestamp(3) without time zone, holding UTC
--                          (ActiveRecord's default_timezone is :utc)
--   users.preferences and tickets.preferences are Ruby hashes serialized as
--   YAML into varchar/text ("--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess
--   \nlocale: de-de\n..."), not JSON.
-- Foreign keys and indexes are kept only where the adapter's queries use them.

CREATE TABLE users (
    id              serial PRIMARY KEY,
    organization_id integer,
    login           character varying(255) NOT NULL,
    firstname       character varying(100) DEFAULT '',
    lastname        character varying(100) DEFAULT '',
    email           character varying(255) DEFAULT '',
    active          boolean NOT NULL DEFAULT true,
    preferences     character varying(8000),
    updated_by_id   integer NOT NULL,
    created_by_id   integer NOT NULL,
    created_at      timestamp(3) without time zone NOT NULL,
    updated_at      timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_users_on_login ON users (login);
CREATE INDEX index_users_on_email ON users (email);

CREATE TABLE groups (
    id            serial PRIMARY KEY,
    name          character varying(1618) NOT NULL,
    name_last     character varying(160) NOT NULL,
    parent_id     integer REFERENCES groups (id),
    active        boolean NOT NULL DEFAULT true,
    updated_by_id integer NOT NULL,
    created_by_id integer NOT NULL,
    created_at    timestamp(3) without time zone NOT NULL,
    updated_at    timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_groups_on_name ON groups (name);

CREATE TABLE ticket_state_types (
    id            serial PRIMARY KEY,
    name          character varying(250) NOT NULL,
    note          character varying(250),
    updated_by_id integer NOT NULL,
    created_by_id integer NOT NULL,
    created_at    timestamp(3) without time zone NOT NULL,
    updated_at    timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_ticket_state_types_on_name ON ticket_state_types (name);

CREATE TABLE ticket_states (
    id                serial PRIMARY KEY,
    state_type_id     integer NOT NULL REFERENCES ticket_state_types (id),
    name              character varying(250) NOT NULL,
    next_state_id     integer,
    ignore_escalation boolean NOT NULL DEFAULT false,
    default_create    boolean NOT NULL DEFAULT false,
    default_follow_up boolean NOT NULL DEFAULT false,
    active            boolean NOT NULL DEFAULT true,
    updated_by_id     integer NOT NULL,
    created_by_id     integer NOT NULL,
    created_at        timestamp(3) without time zone NOT NULL,
    updated_at        timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_ticket_states_on_name ON ticket_states (name);

CREATE TABLE ticket_priorities (
    id             serial PRIMARY KEY,
    name           character varying(250) NOT NULL,
    default_create boolean NOT NULL DEFAULT false,
    active         boolean NOT NULL DEFAULT true,
    updated_by_id  integer NOT NULL,
    created_by_id  integer NOT NULL,
    created_at     timestamp(3) without time zone NOT NULL,
    updated_at     timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_ticket_priorities_on_name ON ticket_priorities (name);

CREATE TABLE tickets (
    id                       serial PRIMARY KEY,
    group_id                 integer NOT NULL REFERENCES groups (id),
    priority_id              integer NOT NULL REFERENCES ticket_priorities (id),
    state_id                 integer NOT NULL REFERENCES ticket_states (id),
    organization_id          integer,
    number                   character varying(60) NOT NULL,
    title                    character varying(250) NOT NULL,
    owner_id                 integer NOT NULL REFERENCES users (id),
    customer_id              integer NOT NULL REFERENCES users (id),
    first_response_at        timestamp(3) without time zone,
    close_at                 timestamp(3) without time zone,
    last_close_at            timestamp(3) without time zone,
    last_contact_at          timestamp(3) without time zone,
    last_contact_agent_at    timestamp(3) without time zone,
    last_contact_customer_at timestamp(3) without time zone,
    escalation_at            timestamp(3) without time zone,
    pending_time             timestamp(3) without time zone,
    article_count            integer,
    preferences              text,
    updated_by_id            integer NOT NULL,
    created_by_id            integer NOT NULL,
    created_at               timestamp(3) without time zone NOT NULL,
    updated_at               timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_tickets_on_number ON tickets (number);
CREATE INDEX index_tickets_on_updated_at ON tickets (updated_at);

CREATE TABLE ticket_article_types (
    id            serial PRIMARY KEY,
    name          character varying(250) NOT NULL,
    communication boolean NOT NULL DEFAULT false,
    active        boolean NOT NULL DEFAULT true,
    updated_by_id integer NOT NULL,
    created_by_id integer NOT NULL,
    created_at    timestamp(3) without time zone NOT NULL,
    updated_at    timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_ticket_article_types_on_name ON ticket_article_types (name);

CREATE TABLE ticket_article_senders (
    id            serial PRIMARY KEY,
    name          character varying(250) NOT NULL,
    updated_by_id integer NOT NULL,
    created_by_id integer NOT NULL,
    created_at    timestamp(3) without time zone NOT NULL,
    updated_at    timestamp(3) without time zone NOT NULL
);
CREATE UNIQUE INDEX index_ticket_article_senders_on_name ON ticket_article_senders (name);

CREATE TABLE ticket_articles (
    id            serial PRIMARY KEY,
    ticket_id     integer NOT NULL REFERENCES tickets (id),
    type_id       integer NOT NULL REFERENCES ticket_article_types (id),
    sender_id     integer NOT NULL REFERENCES ticket_article_senders (id),
    "from"        character varying(3000),
    "to"          character varying(3000),
    subject       character varying(3000),
    message_id    character varying(3000),
    in_reply_to   character varying(3000),
    content_type  character varying(20) NOT NULL DEFAULT 'text/plain',
    body          text NOT NULL,
    internal      boolean NOT NULL DEFAULT false,
    updated_by_id integer NOT NULL,
    created_by_id integer NOT NULL,
    origin_by_id  integer,
    created_at    timestamp(3) without time zone NOT NULL,
    updated_at    timestamp(3) without time zone NOT NULL
);
CREATE INDEX index_ticket_articles_on_ticket_id ON ticket_articles (ticket_id);
CREATE INDEX index_ticket_articles_on_sender_id ON ticket_articles (sender_id);

-- Zammad's own SLAs (doctor.sql counts them: with one, Zammad mails its
-- agents escalation notifications of its own).
CREATE TABLE slas (
    id                  serial PRIMARY KEY,
    calendar_id         integer NOT NULL,
    name                character varying(150),
    first_response_time integer,
    response_time       integer,
    update_time         integer,
    solution_time       integer,
    condition           text,
    updated_by_id       integer NOT NULL,
    created_by_id       integer NOT NULL,
    created_at          timestamp(3) without time zone NOT NULL,
    updated_at          timestamp(3) without time zone NOT NULL
);

-- The seeds (db/seeds/*.rb), with their ids.  Rails writes now() in UTC.
INSERT INTO users (id, login, firstname, lastname, email, active, updated_by_id, created_by_id,
                   created_at, updated_at)
VALUES (1, '-', '-', '', '', false, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
SELECT setval('users_id_seq', 1);

INSERT INTO groups (id, name, name_last, updated_by_id, created_by_id, created_at, updated_at)
VALUES (1, 'Users', 'Users', 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
SELECT setval('groups_id_seq', 1);

INSERT INTO ticket_state_types (id, name, updated_by_id, created_by_id, created_at, updated_at)
SELECT id, name, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM (VALUES (1, 'new'), (2, 'open'), (3, 'pending reminder'), (4, 'pending action'),
               (5, 'closed'), (6, 'merged'), (7, 'removed')) v(id, name);
SELECT setval('ticket_state_types_id_seq', 7);

INSERT INTO ticket_states (id, name, state_type_id, next_state_id, ignore_escalation,
                           default_create, default_follow_up, active,
                           updated_by_id, created_by_id, created_at, updated_at)
SELECT id, name, state_type_id, next_state_id, ignore_escalation, default_create,
       default_follow_up, active, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM (VALUES (1, 'new',              1, NULL::integer, false, true,  false, true),
               (2, 'open',             2, NULL,          false, false, true,  true),
               (3, 'pending reminder', 3, NULL,          true,  false, false, true),
               (4, 'closed',           5, NULL,          true,  false, false, true),
               (5, 'merged',           6, NULL,          true,  false, false, true),
               (6, 'removed',          7, NULL,          true,  false, false, false),
               (7, 'pending close',    4, 4,             true,  false, false, true))
       v(id, name, state_type_id, next_state_id, ignore_escalation, default_create,
         default_follow_up, active);
SELECT setval('ticket_states_id_seq', 7);

INSERT INTO ticket_priorities (id, name, default_create, updated_by_id, created_by_id,
                               created_at, updated_at)
SELECT id, name, id = 2, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM (VALUES (1, '1 low'), (2, '2 normal'), (3, '3 high')) v(id, name);
SELECT setval('ticket_priorities_id_seq', 3);

INSERT INTO ticket_article_senders (id, name, updated_by_id, created_by_id, created_at, updated_at)
SELECT id, name, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM (VALUES (1, 'Agent'), (2, 'Customer'), (3, 'System')) v(id, name);
SELECT setval('ticket_article_senders_id_seq', 3);

INSERT INTO ticket_article_types (id, name, communication, updated_by_id, created_by_id,
                                  created_at, updated_at)
SELECT id, name, communication, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM (VALUES (1, 'email', true), (2, 'sms', true), (3, 'chat', true), (4, 'fax', true),
               (5, 'phone', true), (6, 'twitter status', true),
               (7, 'twitter direct-message', true), (8, 'facebook feed post', true),
               (9, 'facebook feed comment', true), (10, 'note', false), (11, 'web', true),
               (12, 'telegram personal-message', true), (13, 'facebook direct-message', true),
               (14, 'whatsapp message', true)) v(id, name, communication);
SELECT setval('ticket_article_types_id_seq', 14);
