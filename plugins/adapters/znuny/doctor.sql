-- wafa's znuny adapter: `wafa doctor`'s checks, one row each (check, ok, detail).
SELECT 'wafa_notify triggers on ticket, article, article_data_mime, ticket_history' AS "check",
       count(*) = 4 AS ok,
       CASE WHEN count(*) = 4 THEN NULL
            ELSE 'found on: ' || coalesce(string_agg(c.relname::text, ', ' ORDER BY c.relname), 'none')
                 || ' (run `wafa setup`)' END AS detail
  FROM pg_trigger g
  JOIN pg_class c ON c.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE g.tgname = 'wafa_notify' AND n.nspname = 'public'
   AND c.relname IN ('ticket', 'article', 'article_data_mime', 'ticket_history')
UNION ALL
-- Znuny's own escalation mails (the default notifications 11 and 12, or any
-- notification on an Escalation* event) would go out beside wafa's
SELECT 'Znuny''s own escalation notifications are off',
       count(*) = 0,
       CASE WHEN count(*) > 0 THEN
           'active: ' || string_agg(DISTINCT ne.name::text, ', ')
           || ' (Admin > Ticket Notifications: set them invalid, or agents get two mails)' END
  FROM public.notification_event ne
  JOIN public.notification_event_item ni ON ni.notification_id = ne.id
 WHERE ne.valid_id = 1 AND ni.event_key = 'Events'
   AND (ni.event_value LIKE 'NotificationEscalation%' OR ni.event_value LIKE 'Escalation%')
UNION ALL
-- the zone the view reads Znuny's timestamps in, and the zone Znuny's
-- sessions write them in (the database's default TimeZone): the same offset now
SELECT 'Znuny''s timestamps are read as ' || @SCHEMA@.znuny_time_zone(),
       now() AT TIME ZONE @SCHEMA@.znuny_time_zone() = now() AT TIME ZONE d.tz,
       CASE WHEN now() AT TIME ZONE @SCHEMA@.znuny_time_zone() <> now() AT TIME ZONE d.tz THEN
           'a new session''s TimeZone is ' || d.tz || ', in which Znuny writes them: '
           || 'replace ' || '@SCHEMA@' || '.znuny_time_zone() (see install.sql)' END
  -- a new session's TimeZone (server, database and role settings): what
  -- Znuny's sessions get unless PGTZ or its role says otherwise
  FROM (SELECT reset_val AS tz FROM pg_settings WHERE name = 'TimeZone') d
UNION ALL
-- a newest change_time in the future says the zone above is wrong
SELECT 'no ticket changed in the future',
       coalesce(max(t.change_time) AT TIME ZONE @SCHEMA@.znuny_time_zone()
                <= now() + interval '5 minutes', true),
       CASE WHEN max(t.change_time) AT TIME ZONE @SCHEMA@.znuny_time_zone()
                 > now() + interval '5 minutes' THEN
           'the newest change_time reads as '
           || round(extract(epoch FROM max(t.change_time) AT TIME ZONE @SCHEMA@.znuny_time_zone()
                                      - now()) / 3600, 1)
           || ' h from now: Znuny writes another zone than ' || @SCHEMA@.znuny_time_zone() END
  FROM public.ticket t
UNION ALL
SELECT 'owners of open tickets have an e-mail address (preference UserEmail)',
       count(*) = 0,
       CASE WHEN count(*) > 0 THEN count(*) || ' open tickets: their owner has none, owner_email is NULL' END
  FROM public.ticket t
  JOIN public.ticket_state s ON s.id = t.ticket_state_id
  JOIN public.ticket_state_type st ON st.id = s.type_id
 WHERE t.user_id <> 1 AND st.name NOT IN ('closed', 'merged', 'removed')
   AND NOT EXISTS (SELECT 1 FROM public.user_preferences p
                    WHERE p.user_id = t.user_id AND p.preferences_key = 'UserEmail'
                      AND btrim(coalesce(p.preferences_value, '')) <> '')
UNION ALL
SELECT 'customers of open tickets are in customer_user',
       true,
       CASE WHEN count(*) > 0 THEN count(*) || ' open tickets have a customer_user_id not in '
            || 'customer_user (an LDAP backend?): their address is read from the ticket or its first mail' END
  FROM public.ticket t
  JOIN public.ticket_state s ON s.id = t.ticket_state_id
  JOIN public.ticket_state_type st ON st.id = s.type_id
 WHERE st.name NOT IN ('closed', 'merged', 'removed') AND t.customer_user_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM public.customer_user cu WHERE cu.login = t.customer_user_id)
UNION ALL
SELECT 'every state type is one the adapter knows',
       count(*) = 0,
       CASE WHEN count(*) > 0 THEN 'read as open: ' || string_agg(name::text, ', ') END
  FROM public.ticket_state_type
 WHERE name NOT IN ('new', 'open', 'pending reminder', 'pending auto', 'closed', 'merged', 'removed')
UNION ALL
SELECT 'every priority name starts with 1..5',
       count(*) = 0,
       CASE WHEN count(*) > 0 THEN 'read as normal: ' || string_agg(name::text, ', ') END
  FROM public.ticket_priority
 WHERE valid_id = 1 AND name !~ '^\s*[1-5]';
