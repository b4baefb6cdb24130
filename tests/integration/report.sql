-- The fixture of tests/integration/report.py: a fortnight of wafa's records,
-- 2026-11-02 (a Monday) to 2026-11-16, whose report is worked out by hand in
-- the test.  Loaded after `wafa setup` into the sample helpdesk's database.
-- Times are UTC.  Cairo is UTC+2 in November, so the "cairo" calendar
-- (Sun-Thu 09:00-17:00) is open 07:00-15:00 UTC, closed Friday and Saturday.
-- Week 1 is Nov 2-8, week 2 Nov 9-15.

INSERT INTO tickets (id, subject, status, priority, queue, owner_email, customer_email) VALUES
  (1, 'Order 1001', 'solved', 'high',   'Sales',   'amal@example.com', 'c1@example.com'),
  (2, 'Refund',     'solved', 'normal', 'Support', 'badr@example.com', 'c2@example.com'),
  (3, 'Login',      'solved', 'urgent', 'Support', 'badr@example.com', 'c3@example.com'),
  (4, 'Invoice',    'open',   'normal', 'Support', NULL,               'c4@example.com'),
  (5, 'VAT',        'open',   'low',    'Billing', 'amal@example.com', 'c5@example.com'),
  (6, 'Quote',      'open',   'normal', 'Sales',   'amal@example.com', 'c6@example.com');
SELECT setval('tickets_id_seq', 100);

CREATE TEMP TABLE ev (ticket_id int8, rule text, kind text, inst timestamptz, event text,
                      step text, at timestamptz, detail text);
INSERT INTO ev VALUES
  -- first-response (calendar cairo, goal 75%)
  -- T1: Mon 08:00 -> met Mon 10:30: 2.5 business hours (150 min)
  (1, 'first-response', 'sla', '2026-11-02 08:00Z', 'started', NULL, '2026-11-02 08:00Z', NULL),
  (1, 'first-response', 'sla', '2026-11-02 08:00Z', 'met', NULL, '2026-11-02 10:30Z', NULL),
  -- T2: Tue 13:00, breach Wed 09:00, met Wed 11:00: Tue 13-15 + Wed 07-11 = 6 h, breached
  (2, 'first-response', 'sla', '2026-11-03 13:00Z', 'started', NULL, '2026-11-03 13:00Z', NULL),
  (2, 'first-response', 'sla', '2026-11-03 13:00Z', 'breach', 'breach', '2026-11-04 09:00Z', NULL),
  (2, 'first-response', 'sla', '2026-11-03 13:00Z', 'met', NULL, '2026-11-04 11:00Z', NULL),
  -- T3: Thu 14:00, met Sun 08:00: Thu 14-15 + Sun 07-08 = 2 h (66 h on the wall clock)
  (3, 'first-response', 'sla', '2026-11-05 14:00Z', 'started', NULL, '2026-11-05 14:00Z', NULL),
  (3, 'first-response', 'sla', '2026-11-05 14:00Z', 'met', NULL, '2026-11-08 08:00Z', NULL),
  -- T4 (week 2): Mon 07:00, paused 08:00-12:00, met 13:00: 6 h - 4 h paused = 2 h
  (4, 'first-response', 'sla', '2026-11-09 07:00Z', 'started', NULL, '2026-11-09 07:00Z', NULL),
  (4, 'first-response', 'sla', '2026-11-09 07:00Z', 'paused', NULL, '2026-11-09 08:00Z', NULL),
  (4, 'first-response', 'sla', '2026-11-09 07:00Z', 'resumed', NULL, '2026-11-09 12:00Z', NULL),
  (4, 'first-response', 'sla', '2026-11-09 07:00Z', 'met', NULL, '2026-11-09 13:00Z', NULL),
  -- T5: Tue 07:00, breach 11:00, never met
  (5, 'first-response', 'sla', '2026-11-10 07:00Z', 'started', NULL, '2026-11-10 07:00Z', NULL),
  (5, 'first-response', 'sla', '2026-11-10 07:00Z', 'breach', 'breach', '2026-11-10 11:00Z', NULL),
  (5, 'first-response', 'sla', '2026-11-10 07:00Z', 'escalate', 'breach+2h', '2026-11-10 13:00Z', NULL),
  -- T6: Wed 09:00, still running
  (6, 'first-response', 'sla', '2026-11-11 09:00Z', 'started', NULL, '2026-11-11 09:00Z', NULL),
  -- outside the period: started before it (breached), and at its end
  (1, 'first-response', 'sla', '2026-10-30 08:00Z', 'started', NULL, '2026-10-30 08:00Z', NULL),
  (1, 'first-response', 'sla', '2026-10-30 08:00Z', 'breach', 'breach', '2026-11-02 11:00Z', NULL),
  (6, 'first-response', 'sla', '2026-11-16 00:00Z', 'started', NULL, '2026-11-16 00:00Z', NULL),
  -- resolution (no calendar: wall time, goal 90%)
  -- R1: 24 h, met
  (1, 'resolution', 'sla', '2026-11-02 08:00Z', 'started', NULL, '2026-11-02 08:00Z', NULL),
  (1, 'resolution', 'sla', '2026-11-02 08:00Z', 'met', NULL, '2026-11-03 08:00Z', NULL),
  -- R2: breach after 48 h, met at 72 h
  (2, 'resolution', 'sla', '2026-11-03 13:00Z', 'started', NULL, '2026-11-03 13:00Z', NULL),
  (2, 'resolution', 'sla', '2026-11-03 13:00Z', 'breach', 'breach', '2026-11-05 13:00Z', NULL),
  (2, 'resolution', 'sla', '2026-11-03 13:00Z', 'met', NULL, '2026-11-06 13:00Z', NULL),
  -- R3: 36 h on the wall, 24 h of it paused: 12 h, met
  (3, 'resolution', 'sla', '2026-11-05 14:00Z', 'started', NULL, '2026-11-05 14:00Z', NULL),
  (3, 'resolution', 'sla', '2026-11-05 14:00Z', 'paused', NULL, '2026-11-05 20:00Z', NULL),
  (3, 'resolution', 'sla', '2026-11-05 14:00Z', 'resumed', NULL, '2026-11-06 20:00Z', NULL),
  (3, 'resolution', 'sla', '2026-11-05 14:00Z', 'met', NULL, '2026-11-07 02:00Z', NULL),
  -- callback promises (instance: the promised date; made: 'started')
  -- P1 kept; P2 moved to P3, which is broken; P4 kept (week 2); P5 still open (week 2)
  (1, 'callback', 'promise', '2026-11-04 12:00Z', 'started', NULL, '2026-11-02 09:00Z', NULL),
  (1, 'callback', 'promise', '2026-11-04 12:00Z', 'met', NULL, '2026-11-04 10:00Z', NULL),
  (2, 'callback', 'promise', '2026-11-05 12:00Z', 'started', NULL, '2026-11-03 09:00Z', NULL),
  (2, 'callback', 'promise', '2026-11-05 12:00Z', 'cancelled', NULL, '2026-11-04 09:00Z', 'moved'),
  (2, 'callback', 'promise', '2026-11-10 12:00Z', 'started', NULL, '2026-11-04 09:00Z', NULL),
  (2, 'callback', 'promise', '2026-11-10 12:00Z', 'breach', 'breach', '2026-11-10 12:00Z', NULL),
  (3, 'callback', 'promise', '2026-11-12 12:00Z', 'started', NULL, '2026-11-10 09:00Z', NULL),
  (3, 'callback', 'promise', '2026-11-12 12:00Z', 'met', NULL, '2026-11-11 09:00Z', NULL),
  (4, 'callback', 'promise', '2026-11-20 12:00Z', 'started', NULL, '2026-11-12 09:00Z', NULL);

INSERT INTO wafa.journal (ticket_id, rule, kind, instance, event, step, at, fired_at, detail)
SELECT ticket_id, rule, kind, extract(epoch FROM inst)::int8, event, coalesce(step, ''), at,
       CASE WHEN step IS NOT NULL THEN at END, detail
  FROM ev;

-- the outbox: M1..M13 (id = the number)
INSERT INTO wafa.outbox (id, key, ticket_id, rule, phase, mail_from, rcpt, subject, body, status,
                         kind, survey, audience, created_at, sent_at) VALUES
  (1, 'csat/1/due/1', 1, 'csat', 'due', 's@example.com', 'c1@example.com', 's', 'b', 'sent',
   'followup', false, 'customer', '2026-11-03 10:00Z', '2026-11-03 10:00Z'),
  (2, 'csat/2/due/1', 2, 'csat', 'due', 's@example.com', 'c2@example.com', 's', 'b', 'sent',
   'followup', true, 'customer', '2026-11-04 10:00Z', '2026-11-04 10:00Z'),
  (3, 'csat/3/due/1', 3, 'csat', 'due', 's@example.com', 'c3@example.com', 's', 'b', 'sent',
   'followup', true, 'customer', '2026-11-06 10:00Z', '2026-11-06 10:00Z'),
  (4, 'csat/4/due/1', 4, 'csat', 'due', 's@example.com', 'c4@example.com', 's', 'b', 'sent',
   'followup', true, 'customer', '2026-11-10 10:00Z', '2026-11-10 10:00Z'),
  (5, 'csat/5/due/1', 5, 'csat', 'due', 's@example.com', 'c5@example.com', 's', 'b', 'sent',
   'followup', true, 'customer', '2026-11-11 10:00Z', '2026-11-11 10:00Z'),
  (6, 'csat/6/due/1', 6, 'csat', 'due', 's@example.com', 'c6@example.com', 's', 'b', 'sent',
   'followup', true, 'customer', '2026-11-12 10:00Z', '2026-11-12 10:00Z'),
  (7, 'nudge/4/due/1', 4, 'nudge', 'due', 's@example.com', 'c4@example.com', 's', 'b', 'sent',
   'followup', false, 'customer', '2026-11-13 10:00Z', '2026-11-13 10:00Z'),
  (8, 'first-response/2/breach/1', 2, 'first-response', 'breach', 's@example.com',
   'badr@example.com', 's', 'b', 'failed', 'sla', false, 'agent', '2026-11-04 09:00Z', NULL),
  (9, 'first-response/5/breach/1', 5, 'first-response', 'breach', 's@example.com',
   'amal@example.com', 's', 'b', 'sent', 'sla', false, 'agent', '2026-11-09 09:00Z',
   '2026-11-09 09:00Z'),
  (10, 'first-response/5/breach+2h/1', 5, 'first-response', 'breach+2h', 's@example.com',
   'lead@example.com', 's', 'b', 'queued', 'sla', false, 'agent', '2026-11-14 09:00Z', NULL),
  (11, 'loyal/c:c1@example.com/due/1', 0, 'loyal', 'due', 's@example.com', 'c1@example.com',
   's', 'b', 'skipped', 'offer', false, 'customer', '2026-11-10 09:00Z', NULL),
  -- before the period: its survey answer (score 1) is not this period's
  (12, 'csat/1/due/0', 1, 'csat', 'due', 's@example.com', 'c1@example.com', 's', 'b', 'sent',
   'followup', true, 'customer', '2026-10-28 10:00Z', '2026-10-28 10:00Z'),
  -- a mailed report is not counted among the mails it reports on
  (13, 'report/weekly/1', 0, 'weekly', '1', 's@example.com', 'm@example.com', 's', 'b', 'sent',
   'report', false, 'agent', '2026-11-09 00:00Z', '2026-11-09 00:01Z');
SELECT setval('wafa.outbox_id_seq', 100);

-- answers: M2 5, M3 4, M4 2; M6 answered only after the period; M12's before it
INSERT INTO wafa.survey (mail_id, ticket_id, rule, email, score, answered_at) VALUES
  (2, 2, 'csat', 'c2@example.com', 5, '2026-11-05 10:00Z'),
  (3, 3, 'csat', 'c3@example.com', 4, '2026-11-06 12:00Z'),
  (4, 4, 'csat', 'c4@example.com', 2, '2026-11-11 10:00Z'),
  (6, 6, 'csat', 'c6@example.com', 3, '2026-11-17 10:00Z'),
  (12, 1, 'csat', 'c1@example.com', 1, '2026-11-03 10:00Z');

INSERT INTO wafa.optout (email, at, source) VALUES
  ('c1@example.com', '2026-11-04 10:00Z', 'link'),
  ('c5@example.com', '2026-11-12 10:00Z', 'link'),
  ('old@example.com', '2026-10-01 10:00Z', 'admin');
