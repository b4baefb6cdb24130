-- wafa's adapter for Request Tracker 5 (PostgreSQL): the normalized ticket
-- over RT's own tables, and the NOTIFY triggers.  See README.md beside this
-- file for what is mapped from where and why.  Run by `wafa setup` in one
-- transaction with @SCHEMA@ and @CHANNEL@ replaced; re-running it is harmless.
--
-- RT's tables are named with their schema (public), because wafa's view is
-- called tickets too: an RT installed in another schema edits "public." here.
-- RT keeps UTC in "timestamp without time zone" columns and writes
-- 1970-01-01 00:00:00 for a date that is not set.

-- Every message on a ticket: Create and Correspond transactions (a Comment is
-- internal, never a message), on the ticket or on tickets merged into it.
-- An agent is a privileged user who is not a requestor of the ticket: a
-- customer (requestor, Cc, or any unprivileged user) is never an agent, and a
-- staff member who filed the ticket as its requestor writes as its customer.
CREATE OR REPLACE VIEW @SCHEMA@.rt_messages AS
SELECT tk.effectiveid AS ticket_id,
       tr.id,
       tr.objectid,
       tr.type,
       tr.creator,
       tr.created AT TIME ZONE 'UTC' AS at,
       (EXISTS (SELECT 1
                  FROM public.groupmembers pm
                  JOIN public.groups pg ON pg.id = pm.groupid
                 WHERE pm.memberid = tr.creator
                   AND lower(pg.domain) = 'systeminternal' AND lower(pg.name) = 'privileged')
        AND NOT EXISTS (SELECT 1
                          FROM public.groups rg
                          JOIN public.groupmembers rm ON rm.groupid = rg.id
                         WHERE lower(rg.domain) = 'rt::ticket-role' AND lower(rg.name) = 'requestor'
                           AND rg.instance = tk.effectiveid AND rm.memberid = tr.creator)) AS agent
  FROM public.transactions tr
  JOIN public.tickets tk ON tk.id = tr.objectid
 WHERE tr.objecttype = 'RT::Ticket'
   AND tr.type IN ('Create', 'Correspond');

CREATE OR REPLACE VIEW @SCHEMA@.tickets AS
SELECT t.id::int8                                   AS id,
       t.id::text                                   AS ref,
       coalesce(t.subject, '')::text                AS subject,
       CASE lower(t.status)
            WHEN 'new'      THEN 'new'
            WHEN 'open'     THEN 'open'
            WHEN 'stalled'  THEN 'pending'
            WHEN 'resolved' THEN 'solved'
            WHEN 'rejected' THEN 'closed'
            WHEN 'deleted'  THEN 'closed'
            ELSE 'open'                              -- a custom lifecycle's status
       END                                          AS status,
       t.status::text                               AS raw_status,
       -- RT 5 labels 0 Low, 50 Medium, 100 High (%PriorityAsString); 0 is
       -- also what every ticket gets when nobody says, so it is normal
       CASE WHEN t.priority >= 90 THEN 'urgent'
            WHEN t.priority >= 50 THEN 'high'
            WHEN t.priority >= 0  THEN 'normal'
            ELSE 'low'
       END                                          AS priority,
       q.name::text                                 AS queue,
       nullif(req.emailaddress, '')::text           AS customer_email,
       nullif(req.realname, '')::text               AS customer_name,
       nullif(req.lang, '')::text                   AS customer_locale,
       nullif(req.timezone, '')::text               AS customer_tz,
       nullif(ow.emailaddress, '')::text            AS owner_email,
       coalesce(nullif(ow.realname, ''), ow.name)::text AS owner_name,
       CASE WHEN t.created > '1970-01-01' THEN t.created AT TIME ZONE 'UTC' END AS created_at,
       m.first_reply_at,
       m.last_customer_at,
       m.last_agent_at,
       -- RT keeps Resolved when a ticket is reopened: only a solved or
       -- closed ticket has been solved
       CASE WHEN lower(t.status) IN ('resolved', 'rejected', 'deleted') AND t.resolved > '1970-01-01'
            THEN t.resolved AT TIME ZONE 'UTC' END  AS solved_at,
       CASE WHEN t.due > '1970-01-01' THEN t.due AT TIME ZONE 'UTC' END AS due_at,
       coalesce(CASE WHEN t.lastupdated > '1970-01-01' THEN t.lastupdated AT TIME ZONE 'UTC' END,
                CASE WHEN t.created > '1970-01-01' THEN t.created AT TIME ZONE 'UTC' END) AS updated_at,
       jsonb_build_object('rt_priority', t.priority, 'rt_queue_id', t.queue,
                          'rt_sla', t.sla, 'rt_time_worked', t.timeworked,
                          'rt_lifecycle', q.lifecycle)   AS extra,
       body.text                                    AS last_agent_body,
       coalesce(sent.messageid, nullif(la_top.messageid, ''),
                substring(la_top.headers FROM '(?mi)^RT-Message-ID:\s*<([^>\s]+)>'))::text
                                                    AS thread_message_id
  FROM public.tickets t
  JOIN public.queues q ON q.id = t.queue
  LEFT JOIN public.users ow ON ow.id = t.owner AND ow.name <> 'Nobody'
  -- the first requestor (RT's Requestor role group of the ticket)
  LEFT JOIN LATERAL (
       SELECT u.emailaddress, u.realname, u.lang, u.timezone
         FROM public.groups g
         JOIN public.groupmembers gm ON gm.groupid = g.id
         JOIN public.users u ON u.id = gm.memberid
        WHERE lower(g.domain) = 'rt::ticket-role' AND lower(g.name) = 'requestor'
          AND g.instance = t.id
        ORDER BY gm.id
        LIMIT 1) req ON true
  LEFT JOIN LATERAL (
       SELECT min(x.at) FILTER (WHERE x.agent AND x.type = 'Correspond') AS first_reply_at,
              max(x.at) FILTER (WHERE NOT x.agent)                       AS last_customer_at,
              max(x.at) FILTER (WHERE x.agent)                           AS last_agent_at
         FROM @SCHEMA@.rt_messages x
        WHERE x.ticket_id = t.id) m ON true
  -- the latest agent reply: its text, and the Message-ID the customer got
  LEFT JOIN LATERAL (
       SELECT x.id, x.objectid
         FROM @SCHEMA@.rt_messages x
        WHERE x.ticket_id = t.id AND x.agent AND x.type = 'Correspond'
        ORDER BY x.at DESC, x.id DESC
        LIMIT 1) la ON true
  LEFT JOIN LATERAL (
       SELECT a.messageid, a.headers
         FROM public.attachments a
        WHERE a.transactionid = la.id AND a.parent = 0
        ORDER BY a.id
        LIMIT 1) la_top ON true
  LEFT JOIN LATERAL (
       -- text/plain, else text/html with its tags taken out; content RT had
       -- to encode (NUL bytes, not UTF-8) is left out
       SELECT CASE WHEN a.contenttype = 'text/plain' THEN a.content
                   ELSE btrim(replace(replace(replace(replace(replace(replace(
                            regexp_replace(regexp_replace(a.content, '<(br|/p|/div|/li)[^>]*>', E'\n', 'gi'),
                                           '<[^>]*>', '', 'g'),
                            '&nbsp;', ' '), '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&#39;', ''''),
                            '&amp;', '&'), E' \t\r\n')
              END AS text
         FROM public.attachments a
        WHERE a.transactionid = la.id
          AND a.contenttype IN ('text/plain', 'text/html')
          AND coalesce(a.contentencoding, 'none') = 'none'
          AND coalesce(a.filename, '') = ''
        ORDER BY a.contenttype = 'text/plain' DESC, a.id
        LIMIT 1) body ON true
  LEFT JOIN LATERAL (
       -- RT's mail to the requestor for that reply (an EmailRecord, recorded
       -- by default): the Message-ID the customer's mail program knows
       SELECT a.messageid
         FROM public.transactions er
         JOIN public.attachments a ON a.transactionid = er.id AND a.parent = 0
        WHERE er.objecttype = 'RT::Ticket' AND er.objectid = la.objectid
          AND er.type = 'EmailRecord' AND er.id > la.id
          AND coalesce(a.messageid, '') <> ''
          AND NOT EXISTS (SELECT 1 FROM public.transactions o
                           WHERE o.objecttype = 'RT::Ticket' AND o.objectid = la.objectid
                             AND o.id > la.id AND o.id < er.id
                             AND o.type IN ('Create', 'Correspond', 'Comment', 'Status'))
          AND req.emailaddress <> ''
          AND position(lower(req.emailaddress) IN
                       lower(coalesce(substring(a.headers FROM '(?mi)^(?:To|Cc|Bcc):[^\n]*(?:\n[ \t][^\n]*)*'), ''))) > 0
        ORDER BY er.id
        LIMIT 1) sent ON true
 WHERE t.id = t.effectiveid                -- a merged ticket lives on in the one it went into
   AND lower(t.type) = 'ticket';           -- not reminders

-- The change hint: the ticket's id (the one a merged ticket went into).
CREATE OR REPLACE FUNCTION @SCHEMA@.notify_rt() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    id int8;
BEGIN
    IF TG_TABLE_NAME = 'tickets' THEN
        PERFORM pg_notify(@CHANNEL@, r.effectiveid::text);
        IF r.id <> r.effectiveid THEN
            PERFORM pg_notify(@CHANNEL@, r.id::text);
        END IF;
    ELSIF r.objecttype = 'RT::Ticket' THEN
        SELECT effectiveid INTO id FROM public.tickets WHERE tickets.id = r.objectid;
        PERFORM pg_notify(@CHANNEL@, coalesce(id, r.objectid)::text);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS wafa_notify ON public.tickets;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.tickets
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_rt();
DROP TRIGGER IF EXISTS wafa_notify ON public.transactions;
CREATE TRIGGER wafa_notify AFTER INSERT OR UPDATE OR DELETE ON public.transactions
    FOR EACH ROW EXECUTE FUNCTION @SCHEMA@.notify_rt();
