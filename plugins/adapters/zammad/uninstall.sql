-- Removes what install.sql made; wafa's own records stay.
DROP TRIGGER IF EXISTS wafa_notify ON public.ticket_articles;
DROP TRIGGER IF EXISTS wafa_notify ON public.tickets;
DROP FUNCTION IF EXISTS @SCHEMA@.notify_zammad();
DROP VIEW IF EXISTS @SCHEMA@.tickets;
