-- Service levels in business time, for a team in Cairo: first response,
-- next reply and resolution, paused while the ticket waits on the customer,
-- with an escalation chain.  With a calendar every duration is business
-- time: "8h" is eight working hours, one working day here; "1d" would be 24
-- business hours (three working days).  A target in working days is written
-- "bd": "3bd" is the same time of day three working days later.  Copy to
-- rules.d/ and adjust.

calendar "cairo" {
  timezone = "Africa/Cairo",
  hours = { sun = "09:00-17:00", mon = "09:00-17:00", tue = "09:00-17:00",
            wed = "09:00-17:00", thu = "09:00-17:00" },          -- Fri/Sat weekend
  holidays = { "2026-10-06", "01-07",                             -- a date, every 7 January
               hijri "10-01", hijri "10-02", hijri "12-10" },     -- Eid al-Fitr, Eid al-Adha
}

local LEAD = "support-lead@example.com"

local function tell(to, what)
  return function(t, s)
    mail { to = to or t.owner_email or LEAD,
           subject = what .. ": #" .. t.ref .. " " .. t.subject,
           body = "Ticket #" .. t.ref .. " (" .. (t.customer_name or t.customer_email or "customer")
               .. "), " .. s.rule .. ", step " .. s.phase .. ".\n" }
  end
end

-- Every new ticket gets a first reply within business hours.
sla "first-response-hours" {
  calendar = "cairo",
  start = "created_at", stop = "first_reply_at",
  target = { urgent = "1h", high = "4h", default = "8h" },
  pause = { "pending" },
  warn = { "75%" }, on_warn = tell(nil, "Due soon"),
  on_breach = {
    tell(nil, "SLA breached"),
    after "2h" (tell(LEAD, "Escalation")),
    after "8h" (tell("head-of-support@example.com", "Second escalation")),  -- a working day
  },
  notify_in = "business",          -- no one is paged at night or at the weekend
}

-- Each message from the customer is answered within 4 business hours.
sla "next-reply" {
  calendar = "cairo",
  start = "last_customer_at", stop = "last_agent_at",
  target = "4h",
  when = function(t) return t.first_reply_at ~= nil end,   -- first-response covers the first
  on_breach = tell(nil, "Customer waiting"),
}

-- Solved within three working days (gold customers: one); a reopen
-- resumes the clock where it stopped.
sla "resolution" {
  calendar = "cairo",
  start = "created_at", stop = "solved_at",
  target = function(t) if t.extra and t.extra.tier == "gold" then return "1bd" end return "3bd" end,
  pause = { "pending" },
  on_breach = { tell(nil, "Not solved in time"), after "8h" (tell(LEAD, "Resolution escalation")) },
}
