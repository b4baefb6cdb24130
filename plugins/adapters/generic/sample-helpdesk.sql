-- A small helpdesk for wafa's demo and tests, and the generic adapter's view
-- and NOTIFY trigger over it.  Load it into an empty database:
--   psql -v ON_ERROR_STOP=1 -d helpdesk -f sample-helpdesk.sql
-- A real helpdesk needs only the last two parts: a view named in
-- [helpdesk] view that returns the normalized ticket columns, and triggers
-- that NOTIFY the [helpdesk] notify_channel with the ticket id.

CREATE TABLE tickets (
    id               bigserial PRIMARY KEY,
    subject          text NOT NULL,
    status           text NOT NULL DEFAULT 'new',      -- new, open, pending, solved, closed
    priority         text NOT NULL DEFAULT 'normal',   -- low, normal, high, urgent
    queue            text NOT NULL DEFAULT 'Support',
    customer_email   text,
    customer_name    text,
    customer_locale  text,
    customer_tz      text,
    owner_email      text,
    owner_name       text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    first_reply_at   timestamptz,
    last_customer_at timestamptz,
    last_agent_at    timestamptz,
    solved_at        timestamptz,
    due_at           timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    extra            jsonb NOT NULL DEFAULT '{}'    -- e.g. {"tier": "gold"}
);

CREATE TABLE messages (
    id         bigserial PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    author     text NOT NULL CHECK (author IN ('customer', 'agent')),
    body       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX messages_ticket ON messages (ticket_id, created_at);
-- wafa's safety-net re-read asks for the tickets updated since a moment ago
-- ([helpdesk] reconcile_interval): without an index, 10M tickets were read
-- whole for it every 30 s (1.1 s of the server each time)
CREATE INDEX tickets_updated_at ON tickets (updated_at);

-- A message moves the ticket's timestamps, as a helpdesk would: an agent's
-- reply opens a new ticket; a customer's message reopens a solved one.
CREATE FUNCTION messages_touch_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.author = 'agent' THEN
        UPDATE tickets SET first_reply_at = coalesce(first_reply_at, NEW.created_at),
                           last_agent_at = NEW.created_at,
                           status = CASE WHEN status = 'new' THEN 'open' ELSE status END
         WHERE id = NEW.ticket_id;
    ELSE
        UPDATE tickets SET last_customer_at = NEW.created_at,
                           status = CASE WHEN status IN ('pending', 'solved') THEN 'open'
                                         ELSE status END
         WHERE id = NEW.ticket_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER messages_touch_ticket AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_touch_ticket();

CREATE FUNCTION tickets_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    IF NEW.status IN ('solved', 'closed') AND NEW.solved_at IS NULL THEN
        NEW.solved_at := clock_timestamp();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tickets_touch BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_touch();

-- The generic adapter's view: the normalized ticket (its columns: TICKET FIELDS in
-- wafa-rules(7), and plugins/adapters/README.md).
CREATE VIEW wafa_tickets AS
SELECT t.id,
       t.id::text        AS ref,
       t.subject,
       t.status,
       t.status          AS raw_status,
       t.priority,
       t.queue,
       t.customer_email, t.customer_name, t.customer_locale, t.customer_tz,
       t.owner_email, t.owner_name,
       t.created_at, t.first_reply_at, t.last_customer_at, t.last_agent_at,
       t.solved_at, t.due_at, t.updated_at,
       t.extra,
       -- optional columns (wafa reads a missing one as nil)
       (SELECT m.body FROM messages m
         WHERE m.ticket_id = t.id AND m.author = 'agent'
         ORDER BY m.created_at DESC, m.id DESC LIMIT 1) AS last_agent_body
  FROM tickets t;

-- The change hint: NOTIFY wafa_ticket, '<id>' after every change.
CREATE FUNCTION wafa_notify_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wafa_ticket', (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER wafa_notify_ticket AFTER INSERT OR UPDATE OR DELETE ON tickets
    FOR EACH ROW EXECUTE FUNCTION wafa_notify_ticket();
