-- wafa's freescout adapter: checks of a live installation, one row each
-- (check, ok, detail).  Run by `wafa doctor`.
WITH tz AS (
    -- called through query_to_xml, so that a missing function is a failed
    -- check rather than an error of the whole query
    SELECT CASE WHEN to_regprocedure('@SCHEMA@.freescout_timezone()') IS NOT NULL
                THEN (xpath('/row/tz/text()',
                            query_to_xml('SELECT @SCHEMA@.freescout_timezone() AS tz',
                                         false, true, '')))[1]::text
           END AS name
), cols AS (
    -- pg_attribute, not information_schema.columns, which hides the columns
    -- of tables the reader has no rights on
    SELECT count(*) AS n
      FROM pg_attribute a
      JOIN pg_class t ON t.oid = a.attrelid
      JOIN pg_namespace ns ON ns.oid = t.relnamespace
     WHERE ns.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
       AND (t.relname::text, a.attname::text) IN (
           ('conversations', 'number'), ('conversations', 'status'), ('conversations', 'state'),
           ('conversations', 'mailbox_id'), ('conversations', 'user_id'),
           ('conversations', 'customer_id'), ('conversations', 'customer_email'),
           ('conversations', 'closed_at'), ('conversations', 'user_updated_at'),
           ('threads', 'conversation_id'), ('threads', 'type'), ('threads', 'state'),
           ('threads', 'body'), ('threads', 'message_id'), ('threads', 'created_at'),
           ('mailboxes', 'name'), ('customers', 'first_name'), ('emails', 'email'),
           ('users', 'email'), ('users', 'first_name'), ('threads', 'send_status'),
           ('threads', 'status'), ('send_logs', 'thread_id'), ('send_logs', 'status'))
), newest AS (
    -- the newest thread, read in the configured zone
    SELECT max(t.created_at) AS at FROM public.threads t
     WHERE to_regclass('public.threads') IS NOT NULL
)
SELECT 'FreeScout''s tables (public, no table prefix)' AS check,
       n = 24 AS ok,
       CASE WHEN n = 24 THEN NULL
            ELSE n || ' of the 24 columns the adapter reads were found: '
                 'is DB_TABLE_PREFIX set, or another schema?' END AS detail
  FROM cols
UNION ALL
SELECT 'freescout_timezone() names a time zone',
       name IS NOT NULL AND EXISTS (SELECT 1 FROM pg_timezone_names WHERE pg_timezone_names.name = tz.name),
       coalesce(name, '(missing: run wafa setup)') ||
       ': it must be FreeScout''s APP_TIMEZONE (Manage > Settings > General > Timezone)'
  FROM tz
UNION ALL
SELECT 'no FreeScout thread is dated in the future',
       newest.at IS NULL OR tz.name IS NULL
           OR NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE pg_timezone_names.name = tz.name)
           OR (newest.at AT TIME ZONE tz.name) <= now() + interval '5 minutes',
       CASE WHEN newest.at IS NULL THEN 'no threads yet'
            ELSE 'the newest thread is ' || newest.at || ' in ' || tz.name ||
                 ' (a time ahead of now: freescout_timezone() is west of APP_TIMEZONE)' END
  FROM newest, tz
UNION ALL
SELECT 'wafa_notify on conversations, threads and send_logs',
       count(*) = 3,
       count(*) || ' of 3 triggers'
  FROM pg_trigger
 WHERE tgname = 'wafa_notify' AND NOT tgisinternal
   AND tgrelid IN (to_regclass('public.conversations'), to_regclass('public.threads'),
                   to_regclass('public.send_logs'));
