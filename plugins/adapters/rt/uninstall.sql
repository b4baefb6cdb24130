-- Removes wafa's adapter for Request Tracker 5: the triggers, the function
-- and the views.  RT's data and wafa's records are left alone.
DROP TRIGGER IF EXISTS wafa_notify ON public.tickets;
DROP TRIGGER IF EXISTS wafa_notify ON public.transactions;
DROP FUNCTION IF EXISTS @SCHEMA@.notify_rt();
DROP VIEW IF EXISTS @SCHEMA@.tickets;
DROP VIEW IF EXISTS @SCHEMA@.rt_messages;
