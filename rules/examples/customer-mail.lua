-- Mail to customers, in their language and calendar: a satisfaction survey
-- two days after a ticket is solved, a reminder every three days (at most
-- three) to a customer who has not answered a pending ticket, and a yearly
-- thank-you to loyal customers.  Needs [mail] templates (rules/templates/
-- has en, ar and fa) and, for the survey and unsubscribe links, [web].  The
-- [contact] policy in wafa.conf (quiet hours, caps, opt-outs) applies to
-- all of it.  Copy to rules.d/ and adjust.

local function who(t) return t.customer_name or t.customer_email end

followup "csat" {
  since = "solved_at", after = "2d", once = true,
  when = function(t) return t.customer_email ~= nil end,
  on_due = function(t, s)
    mail { to = t.customer_email, template = "csat", survey = true,
           vars = { customer_name = who(t), ticket_ref = t.ref, ticket_subject = t.subject,
                    solved_date = wafa.date(t.solved_at, t) } }
  end,
}

followup "pending-reminder" {
  since = "last_agent_at", after = "3d", every = "3d", max = 3,
  when = function(t) return t.status == "pending" and t.customer_email ~= nil end,
  -- until the customer answers or the ticket is solved (`until` is a Lua
  -- keyword: `stop` says the same)
  stop = function(t, s)
    return t.status ~= "pending" or (t.last_customer_at or 0) > (t.last_agent_at or 0)
  end,
  on_due = function(t, s)
    mail { to = t.customer_email, template = "pending-reminder",
           vars = { customer_name = who(t), ticket_ref = t.ref, ticket_subject = t.subject,
                    asked_date = wafa.date(t.last_agent_at, t), reminder = s.count } }
  end,
}

offer "thank-you" {
  every = "365d",
  audience = function(c) return c.solved >= 5 and c.open == 0 end,
  on_due = function(c, s)
    mail { to = c.email, template = "thank-you-offer",
           vars = { customer_name = c.name or c.email,
                    offer_code = "THANKS-" .. s.instance,   -- your shop's codes here
                    offer_expiry = wafa.date(now() + duration("30d"), c),
                    offer_url = "https://shop.example.com/thanks" } }
  end,
}
