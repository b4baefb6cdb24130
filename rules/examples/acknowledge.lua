-- Tell the customer when we will answer: a minute after a ticket arrives,
-- its customer hears, in their language and calendar, the time by which the
-- team promises a first reply: four working hours in Cairo, so a ticket
-- that comes on the last afternoon before Eid is promised for the first
-- working morning after it.  The same four hours are the team's SLA, so the
-- promise is the one the team is held to.  Needs [mail] templates
-- (acknowledgement, in en, ar and fa).  Copy to rules.d/ and adjust.

calendar "cairo-office" {
  timezone = "Africa/Cairo",
  hours = { sun = "09:00-17:00", mon = "09:00-17:00", tue = "09:00-17:00",
            wed = "09:00-17:00", thu = "09:00-17:00" },          -- Fri/Sat weekend
  holidays = { hijri "10-01", hijri "10-02", hijri "10-03" },   -- Eid al-Fitr
}

local ANSWER_IN = "4h"

followup "acknowledge" {
  since = "created_at", after = "1m", once = true,
  when = function(t) return t.customer_email ~= nil end,
  stop = function(t, s) return t.first_reply_at ~= nil end,      -- answered already
  on_due = function(t, s)
    local by = wafa.business_add(t.created_at, ANSWER_IN, "cairo-office")
    mail { to = t.customer_email, template = "acknowledgement",
           vars = { customer_name = t.customer_name or t.customer_email, ticket_ref = t.ref,
                    ticket_subject = t.subject, answer_by = wafa.datetime(by, t) } }
  end,
}

sla "answer-as-promised" {
  calendar = "cairo-office",
  start = "created_at", stop = "first_reply_at",
  target = ANSWER_IN,
  on_breach = function(t, s)
    mail { to = t.owner_email or "support-lead@example.com",
           subject = "Promised answer missed: #" .. t.ref .. " " .. t.subject,
           body = "We told the customer we would answer by "
               .. wafa.datetime(s.due, { tz = "Africa/Cairo" }) .. " (Cairo).\n" }
  end,
}
