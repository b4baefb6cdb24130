-- wafa's znuny adapter: removes what install.sql added (the triggers, the
-- function, the view and the time zone setting); wafa's records stay.
DROP TRIGGER IF EXISTS wafa_notify ON public.ticket;
DROP TRIGGER IF EXISTS wafa_notify ON public.article;
DROP TRIGGER IF EXISTS wafa_notify ON public.article_data_mime;
DROP TRIGGER IF EXISTS wafa_notify ON public.ticket_history;
DROP FUNCTION IF EXISTS @SCHEMA@.notify_znuny();
DROP VIEW IF EXISTS @SCHEMA@.tickets;
DROP FUNCTION IF EXISTS @SCHEMA@.znuny_time_zone();
