-- wafa's zammad adapter: Zammad 6.x on PostgreSQL as wafa's normalized ticket.
-- Run by `wafa setup` in one transaction, with @SCHEMA@ and @CHANNEL@ replaced
-- and a search_path of wafa's own: Zammad's tables are named public.* (Rails'
-- default schema; edit it if your Zammad database uses another);
-- running it again is harmless.  It creates the view @SCHEMA@.tickets, the
-- function @SCHEMA@.notify_zammad() and a trigger wafa_notify on tickets and
-- ticket_articles, and changes nothing else in Zammad's schema.  README.md
-- says what comes from where.
--
-- Zammad stores `timestamp without time zone` holding UTC: every timestamp is
-- read with AT TIME ZONE 'UTC', which makes it a timestamptz that does not
-- depend on the session's TimeZone.

CREATE OR REPLACE VIEW @SCHEMA@.tickets AS
SELECT t.id::bigint                                   AS id,
       t.number::text                                 AS ref,
       t.title::text                                  AS subject,
       CASE
           WHEN sty.name IN ('closed', 'merged', 'removed')            THEN 'closed'
           WHEN sty.name IN ('pending reminder', 'pending action')     THEN 'pending'
           -- a state of its own ("waiting for supplier") that Zammad's own
           -- escalation ignores: the clock stops, as for pending
           WHEN st.ignore_escalation                                   THEN 'pending'
           WHEN sty.name = 'new'                                       THEN 'new'
           ELSE 'open'
       END                                            AS status,
       st.name::text                                  AS raw_status,
       CASE
           -- Zammad's priorities are named "1 low", "2 normal", "3 high": the
           -- number is the rank; a priority added as "4 very high" is urgent
           WHEN p.name ~ '^\s*[0-9]+' THEN
               CASE substring(p.name from '^\s*([0-9]+)')::int
                   WHEN 0 THEN 'low' WHEN 1 THEN 'low' WHEN 2 THEN 'normal' WHEN 3 THEN 'high'
                   ELSE 'urgent' END
           WHEN lower(p.name) ~ '(urgent|critical|very high|emergency)' THEN 'urgent'
           WHEN lower(p.name) ~ 'high' THEN 'high'
           WHEN lower(p.name) ~ 'low'  THEN 'low'
           ELSE 'normal'
       END                                            AS priority,
       g.name::text                                   AS queue,
       nullif(btrim(c.email), '')::text               AS customer_email,
       nullif(btrim(concat_ws(' ', nullif(btrim(c.firstname), ''),
                                   nullif(btrim(c.lastname), ''))), '') AS customer_name,
       -- users.preferences is a YAML-serialized Ruby hash; its top-level
       -- "locale: de-de" is the user's chosen language (absent until chosen)
       substring(c.preferences from
                 '(?:^|\n):?locale:[ ]*[''"]?([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)')
                                                      AS customer_locale,
       NULL::text                                     AS customer_tz,
       -- user 1 is Zammad's system user "-": owner_id = 1 means unassigned
       CASE WHEN t.owner_id <> 1 THEN nullif(btrim(o.email), '') END::text AS owner_email,
       CASE WHEN t.owner_id <> 1 THEN
           nullif(btrim(concat_ws(' ', nullif(btrim(o.firstname), ''),
                                       nullif(btrim(o.lastname), ''))), '') END AS owner_name,
       t.created_at AT TIME ZONE 'UTC'                AS created_at,
       a.first_agent_at AT TIME ZONE 'UTC'            AS first_reply_at,
       a.last_customer_at AT TIME ZONE 'UTC'          AS last_customer_at,
       a.last_agent_at AT TIME ZONE 'UTC'             AS last_agent_at,
       -- close_at is the first close only and stays after a reopen;
       -- last_close_at is the latest.  Unsolved while not closed.
       CASE WHEN sty.name IN ('closed', 'merged', 'removed')
            THEN coalesce(t.last_close_at, t.close_at, t.updated_at) AT TIME ZONE 'UTC'
       END                                            AS solved_at,
       -- the pending reminder date, only while the ticket is pending
       CASE WHEN sty.name IN ('pending reminder', 'pending action')
            THEN t.pending_time AT TIME ZONE 'UTC' END AS due_at,
       greatest(t.updated_at, a.last_article_at) AT TIME ZONE 'UTC' AS updated_at,
       jsonb_strip_nulls(jsonb_build_object(
           'organization_id', t.organization_id,
           'group_id', t.group_id,
           'group', g.name_last,
           'state_id', t.state_id,
           'state_type', sty.name,
           'priority_id', t.priority_id,
           'priority_name', p.name,
           'customer_id', t.customer_id,
           'owner_id', nullif(t.owner_id, 1),
           'article_count', t.article_count,
           -- Zammad's own bookkeeping, as Unix seconds ('infinity' as null: its
           -- cast would fail the view's read of every ticket with it)
           'zammad_first_response_at',
               CASE WHEN isfinite(t.first_response_at) THEN floor(extract(epoch FROM t.first_response_at AT TIME ZONE 'UTC'))::bigint END,
           'zammad_last_contact_customer_at',
               CASE WHEN isfinite(t.last_contact_customer_at) THEN floor(extract(epoch FROM t.last_contact_customer_at AT TIME ZONE 'UTC'))::bigint END,
           'zammad_last_contact_agent_at',
               CASE WHEN isfinite(t.last_contact_agent_at) THEN floor(extract(epoch FROM t.last_contact_agent_at AT TIME ZONE 'UTC'))::bigint END,
           'zammad_escalation_at',
               CASE WHEN isfinite(t.escalation_at) THEN floor(extract(epoch FROM t.escalation_at AT TIME ZONE 'UTC'))::bigint END,
           'zammad_close_at',
               CASE WHEN isfinite(t.close_at) THEN floor(extract(epoch FROM t.close_at AT TIME ZONE 'UTC'))::bigint END,
           'ignore_escalation', st.ignore_escalation
       ))                                             AS extra,
       CASE WHEN la.content_type ILIKE 'text/html%' THEN
           -- an agent's reply is usually HTML (Zammad's editor): as plain text
           btrim(replace(replace(replace(replace(replace(replace(
               regexp_replace(
                   regexp_replace(la.body, '<(br|/p|/div|/li|/tr|/h[1-6])\s*/?>', E'\n', 'gi'),
                   '<[^>]*>', '', 'g'),
               '&nbsp;', ' '), '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&#39;', ''''),
               '&amp;', '&'), E' \n\t')
       ELSE la.body END::text                         AS last_agent_body,
       nullif(btrim(la.message_id), '')::text         AS thread_message_id
  FROM public.tickets t
  JOIN public.ticket_states st       ON st.id = t.state_id
  JOIN public.ticket_state_types sty ON sty.id = st.state_type_id
  JOIN public.ticket_priorities p    ON p.id = t.priority_id
  JOIN public.groups g               ON g.id = t.group_id
  LEFT JOIN public.users c           ON c.id = t.customer_id
  LEFT JOIN public.users o           ON o.id = t.owner_id
  -- what the articles say.  A reply is what Zammad itself counts as one
  -- (has_ticket_contact_attributes_impact.rb): not internal, of a
  -- communication type (a "note" is not, even a public one), sent by an Agent
  -- or by the Customer; System articles are neither.
  LEFT JOIN LATERAL (
      SELECT min(ar.created_at) FILTER (WHERE snd.name = 'Agent' AND NOT ar.internal
                                          AND typ.communication)   AS first_agent_at,
             max(ar.created_at) FILTER (WHERE snd.name = 'Agent' AND NOT ar.internal
                                          AND typ.communication)   AS last_agent_at,
             max(ar.created_at) FILTER (WHERE snd.name = 'Customer' AND NOT ar.internal
                                          AND typ.communication)   AS last_customer_at,
             max(ar.updated_at)                                    AS last_article_at
        FROM public.ticket_articles ar
        JOIN public.ticket_article_senders snd ON snd.id = ar.sender_id
        JOIN public.ticket_article_types typ   ON typ.id = ar.type_id
       WHERE ar.ticket_id = t.id
  ) a ON true
  LEFT JOIN LATERAL (
      SELECT ar.body, ar.content_type, ar.message_id
        FROM public.ticket_articles ar
        JOIN public.ticket_article_senders snd ON snd.id = ar.sender_id
        JOIN public.ticket_article_types typ   ON typ.id = ar.type_id
       WHERE ar.ticket_id = t.id AND snd.name = 'Agent' AND NOT ar.internal
         AND typ.communication
       ORDER BY ar.created_at DESC, ar.id DESC
       LIMIT 1
  ) la ON true;

COMMENT ON VIEW @SCHEMA@.tickets IS
    'wafa''s normalized ticket over Zammad 6.x (plugins/adapters/zammad)';

CREATE OR REPLACE FUNCTION @SCHEMA@.notify_zammad() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'ticket_articles' THEN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM pg_notify(@CHANNEL@, OLD.ticket_id::text);
        END IF;
        -- an article moved to another ticket (split) moves both
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.ticket_id IS DISTINCT FROM OLD.ticket_id) THEN
            PERFORM pg_notify(@CHANNEL@, NEW.ticket_id::text);
        END IF;
    ELSE
        PERFORM pg_notify(@CHANNEL@, (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END)::text);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS wafa_notify ON public.tickets;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.tickets
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_zammad();

DROP TRIGGER IF EXISTS wafa_notify ON public.ticket_articles;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.ticket_articles
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_zammad();
