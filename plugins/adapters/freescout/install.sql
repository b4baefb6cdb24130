-- wafa's freescout adapter: the normalized ticket view over FreeScout 1.8.x
-- (followed: 1.8.145) on PostgreSQL, and the NOTIFY triggers.  Run by
-- `wafa setup` in one transaction, with search_path set to wafa's schema:
-- FreeScout's tables are named with their schema, public (FreeScout's
-- config/database.php), and without a DB_TABLE_PREFIX.  See README.md for
-- what is mapped from where.

-- FreeScout stores naive timestamps in its app time zone (APP_TIMEZONE, chosen
-- at install), not necessarily UTC.  This function names that zone; it is
-- created as 'UTC' only if it does not exist yet, so re-running setup keeps
-- an administrator's
--   CREATE OR REPLACE FUNCTION wafa.freescout_timezone() RETURNS text
--     LANGUAGE sql IMMUTABLE AS $$ SELECT 'Europe/Berlin'::text $$;
DO $do$
BEGIN
    IF to_regprocedure('@SCHEMA@.freescout_timezone()') IS NULL THEN
        CREATE FUNCTION @SCHEMA@.freescout_timezone() RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $f$ SELECT 'UTC'::text $f$;
        COMMENT ON FUNCTION @SCHEMA@.freescout_timezone() IS
            'FreeScout''s APP_TIMEZONE (its .env): the zone of its timestamp columns';
    END IF;
END
$do$;

CREATE OR REPLACE VIEW @SCHEMA@.tickets AS
SELECT c.id::bigint                                         AS id,
       c.number::text                                       AS ref,
       coalesce(c.subject, '')::text                        AS subject,
       (CASE c.status
            WHEN 1 THEN CASE WHEN th.first_agent IS NULL THEN 'new' ELSE 'open' END
            -- pending set by a reply the customer never got (undone: a
            -- draft again; or its send failed): the customer still waits
            WHEN 2 THEN CASE WHEN th.pending_unsent THEN 'open' ELSE 'pending' END
            WHEN 3 THEN 'solved'     -- a customer's mail reopens it
            WHEN 4 THEN 'closed'     -- spam
            ELSE 'open'
        END)::text                                          AS status,
       (CASE c.status
            WHEN 1 THEN 'active' WHEN 2 THEN 'pending' WHEN 3 THEN 'closed' WHEN 4 THEN 'spam'
            ELSE c.status::text
        END)::text                                          AS raw_status,
       'normal'::text                                       AS priority,   -- FreeScout has none
       m.name::text                                         AS queue,
       coalesce(nullif(c.customer_email, ''),
                (SELECT e.email FROM public.emails e
                  WHERE e.customer_id = c.customer_id
                  ORDER BY e.id LIMIT 1))::text             AS customer_email,
       nullif(btrim(concat_ws(' ', cu.first_name, cu.last_name)), '')::text AS customer_name,
       NULL::text                                           AS customer_locale,
       NULL::text                                           AS customer_tz,
       u.email::text                                        AS owner_email,
       nullif(btrim(concat_ws(' ', u.first_name, u.last_name)), '')::text AS owner_name,
       c.created_at AT TIME ZONE z.tz                       AS created_at,
       th.first_agent AT TIME ZONE z.tz                     AS first_reply_at,
       th.last_customer AT TIME ZONE z.tz                   AS last_customer_at,
       th.last_agent AT TIME ZONE z.tz                      AS last_agent_at,
       (CASE WHEN c.status = 3 THEN
            -- closed_at is set when a user closes and never cleared; a close
            -- without a user (workflow, API) leaves an older one behind
            CASE WHEN c.closed_at IS NOT NULL
                      AND c.closed_at >= coalesce(th.last_customer, c.closed_at)
                 THEN c.closed_at
                 ELSE coalesce(c.user_updated_at, c.updated_at, c.created_at)
            END
        END) AT TIME ZONE z.tz                              AS solved_at,
       NULL::timestamptz                                    AS due_at,     -- no promise date
       greatest(c.updated_at, th.last_change, c.created_at) AT TIME ZONE z.tz AS updated_at,
       jsonb_build_object(
           'mailbox_id', c.mailbox_id,
           'folder_id', c.folder_id,
           'number', c.number,
           'customer_id', c.customer_id,
           'user_id', c.user_id,
           'type', CASE c.type WHEN 1 THEN 'email' WHEN 2 THEN 'phone' WHEN 3 THEN 'chat'
                               WHEN 4 THEN 'custom' ELSE c.type::text END,
           'channel', c.channel,
           'imported', c.imported,
           'threads_count', c.threads_count,
           'last_reply_from', CASE c.last_reply_from WHEN 1 THEN 'customer'
                                                     WHEN 2 THEN 'user' END,
           'pending_unsent', coalesce(th.pending_unsent, false),
           'unsent_replies', coalesce(th.unsent_replies, 0))
                                                            AS extra,
       th.last_agent_body::text                             AS last_agent_body,
       lc.message_id::text                                  AS thread_message_id
  FROM public.conversations c
 CROSS JOIN (SELECT @SCHEMA@.freescout_timezone() AS tz) z
  JOIN public.mailboxes m ON m.id = c.mailbox_id
  LEFT JOIN public.customers cu ON cu.id = c.customer_id
  LEFT JOIN public.users u ON u.id = c.user_id
  LEFT JOIN LATERAL (
        -- replies are published threads: type 1 the customer's, type 2 a
        -- user's message; notes (3), line items (4) and drafts are not.  A
        -- user's message counts as sent unless FreeScout could not send it:
        -- the thread's send_status an error (2 send error, 5 delivery error,
        -- 10 an error it retries), or the send log's newest row for the
        -- customer's address an error (a recipient the server refused: the
        -- thread then says accepted)
        SELECT min(t.created_at) FILTER (WHERE t.sent)               AS first_agent,
               max(t.created_at) FILTER (WHERE t.sent)               AS last_agent,
               (array_agg(t.body ORDER BY t.created_at DESC, t.id DESC)
                    FILTER (WHERE t.sent))[1]                        AS last_agent_body,
               max(t.created_at) FILTER (WHERE t.type = 1 AND t.state = 2) AS last_customer,
               max(greatest(t.created_at, t.updated_at))             AS last_change,
               count(*) FILTER (WHERE t.type = 2 AND t.state = 2 AND NOT t.sent) AS unsent_replies,
               -- the thread that last set the status pending: a reply that
               -- is a draft again (undo keeps the status it set) or was not
               -- sent, rather than a sent reply, a note or a status change
               (array_agg(t.type = 2 AND NOT t.sent ORDER BY t.created_at DESC, t.id DESC)
                    FILTER (WHERE t.status = 2 AND (t.state = 2 AND t.type IN (2, 3, 4)
                                                    OR t.state = 1 AND t.type = 2)))[1]
                                                                     AS pending_unsent
          FROM (SELECT t.created_at, t.updated_at, t.id, t.type, t.state, t.status, t.body,
                       t.type = 2 AND t.state = 2
                       AND coalesce(t.send_status, 0) NOT IN (2, 5, 10)
                       AND coalesce((SELECT sl.status NOT IN (2, 5, 10)
                                       FROM public.send_logs sl
                                      WHERE sl.thread_id = t.id AND sl.mail_type = 1
                                        AND lower(sl.email) = lower(c.customer_email)
                                      ORDER BY sl.id DESC LIMIT 1), true) AS sent
                  FROM public.threads t
                 WHERE t.conversation_id = c.id) t) th ON true
  LEFT JOIN LATERAL (
        -- the customer's latest mail: FreeScout keeps no Message-ID for a
        -- user's reply (it derives one from APP_KEY), and this one the
        -- customer's mail client knows
        SELECT t.message_id FROM public.threads t
         WHERE t.conversation_id = c.id AND t.type = 1 AND t.state = 2
           AND t.message_id IS NOT NULL
         ORDER BY t.created_at DESC, t.id DESC LIMIT 1) lc ON true
 WHERE c.state = 2;     -- published: not a draft, not deleted

COMMENT ON VIEW @SCHEMA@.tickets IS
    'wafa''s normalized tickets over FreeScout (plugins/adapters/freescout)';

-- A changed conversation or thread: NOTIFY the conversation's id.
CREATE OR REPLACE FUNCTION @SCHEMA@.notify_freescout() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'conversations' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify(@CHANNEL@, OLD.id::text);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify(@CHANNEL@, NEW.id::text);
        END IF;
    ELSIF TG_TABLE_NAME = 'send_logs' THEN
        -- a reply's send failed (or a retry got through)
        IF TG_OP <> 'DELETE' AND NEW.thread_id IS NOT NULL THEN
            PERFORM pg_notify(@CHANNEL@, t.conversation_id::text)
               FROM public.threads t WHERE t.id = NEW.thread_id;
        END IF;
    ELSE
        -- threads: a thread moved by a merge moves both conversations
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify(@CHANNEL@, OLD.conversation_id::text);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify(@CHANNEL@, NEW.conversation_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS wafa_notify ON public.conversations;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.conversations
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_freescout();

DROP TRIGGER IF EXISTS wafa_notify ON public.threads;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.threads
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_freescout();

DROP TRIGGER IF EXISTS wafa_notify ON public.send_logs;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE ON public.send_logs
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_freescout();
