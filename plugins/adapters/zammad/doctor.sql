-- `wafa doctor` checks for the zammad adapter: one row per check
-- (check text, ok boolean, detail text).  Zammad's tables are in the schema
-- public (Rails' default); wafa runs this with its own search_path, so every
-- name is qualified.
SELECT 'wafa_notify triggers on tickets and ticket_articles' AS check,
       count(*) = 2 AS ok,
       CASE WHEN count(*) = 2 THEN 'both installed and enabled'
            ELSE 'missing or disabled on: ' || coalesce((
                SELECT string_agg(tbl, ', ') FROM unnest(ARRAY['tickets', 'ticket_articles']) tbl
                 WHERE NOT EXISTS (SELECT 1 FROM pg_trigger tg
                                    WHERE tg.tgrelid = to_regclass('public.' || tbl) AND tg.tgname = 'wafa_notify'
                                      AND tg.tgenabled <> 'D')), '?')
                 || ' (run wafa setup)' END AS detail
  FROM pg_trigger tg
 WHERE tg.tgname = 'wafa_notify' AND tg.tgenabled <> 'D'
   AND tg.tgrelid IN (to_regclass('public.tickets'), to_regclass('public.ticket_articles'))
UNION ALL
SELECT 'timestamps are timestamp without time zone (UTC)',
       bool_and(data_type = 'timestamp without time zone'),
       string_agg(table_name || '.' || column_name || ': ' || data_type, ', ')
  FROM information_schema.columns
 WHERE table_schema = 'public'
   AND (table_name, column_name) IN (('tickets', 'created_at'), ('tickets', 'updated_at'),
                                     ('tickets', 'close_at'), ('tickets', 'pending_time'),
                                     ('ticket_articles', 'created_at'))
UNION ALL
SELECT 'article senders Agent and Customer exist',
       count(*) = 2,
       'found: ' || coalesce(string_agg(name, ', ' ORDER BY name), 'none')
  FROM public.ticket_article_senders WHERE name IN ('Agent', 'Customer')
UNION ALL
SELECT 'every state type is mapped',
       count(*) = 0,
       CASE WHEN count(*) = 0 THEN 'new, open, pending reminder, pending action, closed, merged, removed'
            ELSE 'read as open: ' || string_agg(name, ', ') END
  FROM public.ticket_state_types
 WHERE name NOT IN ('new', 'open', 'pending reminder', 'pending action', 'closed', 'merged', 'removed')
UNION ALL
SELECT 'states that pause (ignore_escalation on a new/open state)',
       true,
       coalesce(string_agg(st.name, ', '), 'none')
  FROM public.ticket_states st JOIN public.ticket_state_types sty ON sty.id = st.state_type_id
 WHERE st.ignore_escalation AND sty.name IN ('new', 'open')
UNION ALL
SELECT 'priorities named by rank ("1 low", "2 normal", "3 high")',
       count(*) FILTER (WHERE name !~ '^\s*[0-9]+') = 0,
       string_agg(name, ', ' ORDER BY id)
  FROM public.ticket_priorities
UNION ALL
SELECT 'user 1 is the system user "-" (owner 1 = no owner)',
       coalesce(bool_and(login = '-'), false),
       coalesce(max('login ' || login), 'no user 1')
  FROM public.users WHERE id = 1
UNION ALL
-- With an SLA of its own Zammad computes escalation_at and mails the agents
-- whose notification settings have "escalation" on (the default): those
-- mails come on top of wafa's.
SELECT 'no SLAs of Zammad''s own (its escalation mails would duplicate wafa''s)',
       count(*) = 0,
       CASE WHEN count(*) = 0 THEN 'none'
            ELSE count(*) || ' SLA(s): ' || string_agg(coalesce(name, '?'), ', ')
                 || '; Zammad mails agents on escalation unless they turn "escalation" off in '
                 || 'their notification settings (users.preferences notification_config), '
                 || 'or delete the SLAs in Admin > SLAs' END
  FROM public.slas;
