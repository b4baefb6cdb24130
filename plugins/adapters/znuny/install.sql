-- wafa's znuny adapter: Znuny 6.x / 7.x (and OTRS 6) on PostgreSQL.
-- Run by `wafa setup` in one transaction (with @SCHEMA@ and @CHANNEL@ filled
-- in); running it again is harmless.  Reads Znuny's tables, changes none of
-- them: it adds a view and a function in wafa's schema and triggers named
-- wafa_notify on ticket, article, article_data_mime and ticket_history.
-- Znuny's tables are read from schema public (Znuny's default); a Znuny in
-- another schema: replace "public." below and in uninstall.sql / doctor.sql.
-- README.md in this folder says what is mapped from where, and why.

-- The time zone in which Znuny's "timestamp without time zone" columns are
-- written.  Znuny writes them with current_timestamp, so they are in the
-- TimeZone of Znuny's database sessions (the server's default); Znuny 7
-- expects that to be UTC, as its OTRSTimeZone is.  If yours is not, replace
-- the function with your zone, e.g.
--   CREATE OR REPLACE FUNCTION wafa.znuny_time_zone() RETURNS text
--     LANGUAGE sql IMMUTABLE AS $$ SELECT 'Asia/Tehran'::text $$;
-- (`wafa doctor` compares it with the database's default TimeZone).  Created
-- here only when missing, so running this again keeps your choice.
DO $$
BEGIN
    IF to_regprocedure('@SCHEMA@.znuny_time_zone()') IS NULL THEN
        CREATE FUNCTION @SCHEMA@.znuny_time_zone() RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT ''UTC''::text';
    END IF;
END $$;

CREATE OR REPLACE VIEW @SCHEMA@.tickets AS
SELECT t.id,
       t.tn::text AS ref,
       coalesce(t.title, '')::text AS subject,
       CASE st.name
           WHEN 'new' THEN 'new'
           WHEN 'open' THEN 'open'
           WHEN 'pending reminder' THEN 'pending'
           WHEN 'pending auto' THEN 'pending'
           WHEN 'closed' THEN 'closed'
           WHEN 'merged' THEN 'closed'
           WHEN 'removed' THEN 'closed'
           ELSE 'open'                       -- a state type of one's own
       END AS status,
       s.name::text AS raw_status,
       -- '1 very low' .. '5 very high', by the leading digit (names are editable)
       CASE substring(p.name FROM '^\s*([1-5])')
           WHEN '1' THEN 'low'
           WHEN '2' THEN 'low'
           WHEN '3' THEN 'normal'
           WHEN '4' THEN 'high'
           WHEN '5' THEN 'urgent'
           ELSE 'normal'
       END AS priority,
       q.name::text AS queue,
       -- the customer user's address; a customer not in customer_user (an
       -- LDAP backend, or an unknown sender: then customer_user_id is the
       -- address itself); else the From of the customer's first article
       coalesce(nullif(btrim(cu.email), ''),
                CASE WHEN t.customer_user_id ~ '^[^@\s<>]+@[^@\s<>]+$' THEN t.customer_user_id END,
                substring(fc.a_from FROM '<([^<>@\s]+@[^<>@\s]+)>'),
                substring(fc.a_from FROM '^\s*([^<>@\s]+@[^<>@\s]+)\s*$'))::text AS customer_email,
       nullif(btrim(concat_ws(' ', cu.first_name, cu.last_name)), '')::text AS customer_name,
       -- Znuny's language codes are en, de, pt_BR, zh_CN: BCP 47 has a hyphen
       replace(nullif(btrim(cp.lang), ''), '_', '-')::text AS customer_locale,
       nullif(btrim(cp.tz), '')::text AS customer_tz,
       -- user 1 (root@localhost) owns what nobody has taken: no owner
       CASE WHEN t.user_id <> 1 THEN nullif(btrim(up.email), '') END::text AS owner_email,
       CASE WHEN t.user_id <> 1
            THEN nullif(btrim(concat_ws(' ', u.first_name, u.last_name)), '') END::text AS owner_name,
       t.create_time AT TIME ZONE @SCHEMA@.znuny_time_zone() AS created_at,
       a.first_reply AT TIME ZONE @SCHEMA@.znuny_time_zone() AS first_reply_at,
       a.last_customer AT TIME ZONE @SCHEMA@.znuny_time_zone() AS last_customer_at,
       a.last_agent AT TIME ZONE @SCHEMA@.znuny_time_zone() AS last_agent_at,
       CASE WHEN st.name IN ('closed', 'merged', 'removed')
            THEN (SELECT min(h.create_time)
                    FROM public.ticket_history h
                    JOIN public.ticket_history_type ht ON ht.id = h.history_type_id
                    JOIN public.ticket_state hs ON hs.id = h.state_id
                    JOIN public.ticket_state_type hst ON hst.id = hs.type_id
                   WHERE h.ticket_id = t.id
                     AND ht.name IN ('StateUpdate', 'NewTicket')
                     AND hst.name IN ('closed', 'merged', 'removed')
                     -- not a row a merge moved in from another ticket: a
                     -- merge moves every history row with an article id
                     -- (a reply's StateUpdate has one) and rewrites its
                     -- change_time to the merge's time; Znuny writes both
                     -- times alike otherwise
                     AND h.change_time <= h.create_time
                     -- since the last time it was not closed (a reopen)
                     AND h.id > coalesce((
                         SELECT max(h2.id)
                           FROM public.ticket_history h2
                           JOIN public.ticket_history_type ht2 ON ht2.id = h2.history_type_id
                           JOIN public.ticket_state hs2 ON hs2.id = h2.state_id
                           JOIN public.ticket_state_type hst2 ON hst2.id = hs2.type_id
                          WHERE h2.ticket_id = t.id
                            AND ht2.name IN ('StateUpdate', 'NewTicket')
                            AND hst2.name NOT IN ('closed', 'merged', 'removed')
                            AND h2.change_time <= h2.create_time), 0))
                 AT TIME ZONE @SCHEMA@.znuny_time_zone()
       END AS solved_at,
       -- the pending date: Unix seconds, 0 for none; meaningful while pending
       CASE WHEN st.name IN ('pending reminder', 'pending auto') AND t.until_time > 0
            THEN to_timestamp(t.until_time) END AS due_at,
       greatest(t.change_time, a.last_change) AT TIME ZONE @SCHEMA@.znuny_time_zone() AS updated_at,
       jsonb_strip_nulls(jsonb_build_object(
           'type_id', t.type_id,
           'service_id', t.service_id,
           'sla_id', t.sla_id,
           'customer_id', t.customer_id,
           'customer_user_id', t.customer_user_id,
           'owner_id', t.user_id,
           'responsible_user_id', t.responsible_user_id,
           'lock_id', t.ticket_lock_id,
           'archived', t.archive_flag = 1,
           -- Znuny's own escalation deadlines, Unix seconds like wafa's t.*_at
           'escalation_at', nullif(t.escalation_time, 0),
           'escalation_response_at', nullif(t.escalation_response_time, 0),
           'escalation_update_at', nullif(t.escalation_update_time, 0),
           'escalation_solution_at', nullif(t.escalation_solution_time, 0),
           'pending_until', nullif(t.until_time, 0))) AS extra,
       la.a_body::text AS last_agent_body,
       tm.a_message_id::text AS thread_message_id
  FROM public.ticket t
  JOIN public.ticket_state s ON s.id = t.ticket_state_id
  JOIN public.ticket_state_type st ON st.id = s.type_id
  LEFT JOIN public.ticket_priority p ON p.id = t.ticket_priority_id
  LEFT JOIN public.queue q ON q.id = t.queue_id
  LEFT JOIN public.users u ON u.id = t.user_id
  LEFT JOIN public.customer_user cu ON cu.login = t.customer_user_id
  LEFT JOIN LATERAL (
      SELECT max(pr.preferences_value) FILTER (WHERE pr.preferences_key = 'UserLanguage') AS lang,
             max(pr.preferences_value) FILTER (WHERE pr.preferences_key = 'UserTimeZone') AS tz
        FROM public.customer_preferences pr
       WHERE pr.user_id = t.customer_user_id
         AND pr.preferences_key IN ('UserLanguage', 'UserTimeZone')) cp ON true
  LEFT JOIN LATERAL (
      SELECT max(pr.preferences_value) AS email
        FROM public.user_preferences pr
       WHERE pr.user_id = t.user_id AND pr.preferences_key = 'UserEmail') up ON true
  LEFT JOIN LATERAL (
      -- agent articles count only when the customer sees them: an internal
      -- note is no reply; 'system' articles (auto replies) are neither side
      SELECT min(ar.create_time) FILTER (WHERE ast.name = 'agent'
                                          AND ar.is_visible_for_customer = 1) AS first_reply,
             max(ar.create_time) FILTER (WHERE ast.name = 'customer') AS last_customer,
             max(ar.create_time) FILTER (WHERE ast.name = 'agent'
                                          AND ar.is_visible_for_customer = 1) AS last_agent,
             max(ar.change_time) AS last_change
        FROM public.article ar
        JOIN public.article_sender_type ast ON ast.id = ar.article_sender_type_id
       WHERE ar.ticket_id = t.id) a ON true
  LEFT JOIN LATERAL (
      SELECT m.a_body
        FROM public.article ar
        JOIN public.article_sender_type ast ON ast.id = ar.article_sender_type_id
        JOIN public.article_data_mime m ON m.article_id = ar.id
       WHERE ar.ticket_id = t.id AND ast.name = 'agent' AND ar.is_visible_for_customer = 1
       ORDER BY ar.create_time DESC, ar.id DESC
       LIMIT 1) la ON true
  LEFT JOIN LATERAL (
      -- the newest message of the conversation the customer has
      SELECT m.a_message_id
        FROM public.article ar
        JOIN public.article_data_mime m ON m.article_id = ar.id
       WHERE ar.ticket_id = t.id AND ar.is_visible_for_customer = 1
         AND nullif(btrim(m.a_message_id), '') IS NOT NULL
       ORDER BY ar.create_time DESC, ar.id DESC
       LIMIT 1) tm ON true
  LEFT JOIN LATERAL (
      SELECT m.a_from
        FROM public.article ar
        JOIN public.article_sender_type ast ON ast.id = ar.article_sender_type_id
        JOIN public.article_data_mime m ON m.article_id = ar.id
       WHERE ar.ticket_id = t.id AND ast.name = 'customer'
       ORDER BY ar.create_time, ar.id
       LIMIT 1) fc ON cu.email IS NULL;

-- The change hint: NOTIFY with the ticket's id after a change to a ticket or
-- to a row that moves one.  Znuny writes a ticket's rows in separate
-- statements (autocommit), so the article's body (article_data_mime) and
-- the state's history row (ticket_history, whence solved_at) arrive after
-- the hint for the ticket or article: they send their own.
CREATE OR REPLACE FUNCTION @SCHEMA@.notify_znuny() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tid bigint;
BEGIN
    IF TG_TABLE_NAME = 'ticket' THEN
        tid := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
    ELSIF TG_TABLE_NAME = 'article_data_mime' THEN
        EXECUTE format('SELECT ticket_id FROM %I.article WHERE id = $1', TG_TABLE_SCHEMA)
           INTO tid
          USING CASE WHEN TG_OP = 'DELETE' THEN OLD.article_id ELSE NEW.article_id END;
    ELSE  -- article, ticket_history
        tid := CASE WHEN TG_OP = 'DELETE' THEN OLD.ticket_id ELSE NEW.ticket_id END;
    END IF;
    IF tid IS NOT NULL THEN
        PERFORM pg_notify(@CHANNEL@, tid::text);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS wafa_notify ON public.ticket;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.ticket
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_znuny();
DROP TRIGGER IF EXISTS wafa_notify ON public.article;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.article
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_znuny();
DROP TRIGGER IF EXISTS wafa_notify ON public.article_data_mime;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.article_data_mime
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_znuny();
DROP TRIGGER IF EXISTS wafa_notify ON public.ticket_history;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.ticket_history
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_znuny();
