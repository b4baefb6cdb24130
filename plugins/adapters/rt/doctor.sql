-- wafa doctor's checks for the Request Tracker 5 adapter: one row per check
-- (check, ok, detail).  Whether an rt-crontool escalation runs from cron is
-- outside the database and is not checked.
SELECT 'wafa_notify triggers on RT''s tickets and transactions'::text AS check,
       count(*) = 2 AS ok,
       CASE WHEN count(*) = 2 THEN 'both present'
            ELSE 'missing on ' || coalesce((SELECT string_agg(n, ', ') FROM unnest(ARRAY['tickets', 'transactions']) n
                                             WHERE n NOT IN (SELECT c.relname FROM pg_trigger tg
                                                               JOIN pg_class c ON c.oid = tg.tgrelid
                                                              WHERE tg.tgname = 'wafa_notify')), '?')
                 || ': run wafa setup'
       END AS detail
  FROM pg_trigger tg
  JOIN pg_class c ON c.oid = tg.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE tg.tgname = 'wafa_notify' AND n.nspname = 'public'
   AND c.relname IN ('tickets', 'transactions')
UNION ALL
SELECT 'no RT scrip mails on a priority change (an escalation would mail twice)',
       count(*) = 0,
       CASE WHEN count(*) = 0 THEN 'none'
            ELSE 'enabled scrips ' || string_agg('#' || s.id || ' "' || coalesce(s.description, '') || '"', ', ' ORDER BY s.id)
                 || ' mail On Priority Change: rt-crontool''s escalation and wafa''s rules would both mail'
       END
  FROM public.scrips s
  JOIN public.scripconditions sc ON sc.id = s.scripcondition
  JOIN public.scripactions sa ON sa.id = s.scripaction
 WHERE s.disabled = 0
   AND sc.execmodule = 'PriorityChange'
   AND sa.execmodule ~ '^(Notify|Autoreply|SendEmail|SendForward)'
   AND EXISTS (SELECT 1 FROM public.objectscrips os WHERE os.scrip = s.id)
UNION ALL
SELECT 'every status in use is one wafa knows',
       count(*) = 0,
       CASE WHEN count(*) = 0 THEN 'new, open, stalled, resolved, rejected, deleted'
            ELSE 'statuses of a custom lifecycle are read as open: '
                 || string_agg(x.status || ' (' || x.n || ' tickets)', ', ' ORDER BY x.status)
       END
  FROM (SELECT t.status, count(*) AS n
          FROM public.tickets t
         WHERE lower(t.status) NOT IN ('new', 'open', 'stalled', 'resolved', 'rejected', 'deleted')
           AND lower(t.type) = 'ticket'
         GROUP BY t.status) x
UNION ALL
SELECT 'RT''s Nobody user (an unowned ticket''s owner)',
       count(*) = 1,
       CASE WHEN count(*) = 1 THEN 'user #' || min(u.id) ELSE 'no user named Nobody: owners may be wrong' END
  FROM public.users u
 WHERE u.name = 'Nobody';
