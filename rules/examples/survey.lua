-- Survey after every case: each solved ticket asks its customer, in their
-- language, how it went (five score links), an hour after the solve, so the
-- memory is fresh.  Not for spam, duplicates and merged tickets, nor for
-- tickets the team opened itself; and not if the ticket was reopened (it
-- comes again when solved again).  The [contact] policy in wafa.conf keeps
-- one customer from too many mails.  Needs [mail] templates (csat) and [web]
-- for the links.  Copy to rules.d/ (customer-mail.lua has a survey two days
-- after the solve; use one).

local NO_SURVEY = { spam = true, duplicate = true, merged = true }

followup "survey-every-case" {
  since = "solved_at", after = "1h", once = true,
  when = function(t) return t.customer_email ~= nil end,
  unless = function(t, s)
    return NO_SURVEY[t.raw_status or ""] or (t.extra and t.extra.internal == true)
  end,
  on_due = function(t, s)
    mail { to = t.customer_email, template = "csat", survey = true,
           vars = { customer_name = t.customer_name or t.customer_email, ticket_ref = t.ref,
                    ticket_subject = t.subject, solved_date = wafa.date(t.solved_at, t) } }
  end,
}
