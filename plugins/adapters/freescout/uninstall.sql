-- wafa's freescout adapter: removes what install.sql made, and nothing of
-- wafa's records.  Run by `wafa setup --uninstall`.
-- Kept on purpose: @SCHEMA@.freescout_timezone(), your setting of FreeScout's
-- APP_TIMEZONE, so that uninstalling and installing again (an upgrade) does
-- not silently fall back to UTC.  `--purge` drops it with wafa's schema; by
-- hand: DROP FUNCTION wafa.freescout_timezone();
DROP TRIGGER IF EXISTS wafa_notify ON public.send_logs;
DROP TRIGGER IF EXISTS wafa_notify ON public.threads;
DROP TRIGGER IF EXISTS wafa_notify ON public.conversations;
DROP VIEW IF EXISTS @SCHEMA@.tickets;
DROP FUNCTION IF EXISTS @SCHEMA@.notify_freescout();
