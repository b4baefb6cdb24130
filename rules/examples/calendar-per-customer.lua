-- One rule, customers in three countries: each ticket's clock runs in the
-- office hours and holidays of the team that serves its customer, chosen
-- from the customer's time zone (or from anything else on the ticket: its
-- organization in t.extra, its queue).  A calendar function is asked again
-- whenever the ticket changes.  Copy to rules.d/ and adjust.

calendar "gulf" {
  timezone = "Asia/Riyadh",
  hours = { sun = "08:00-16:00", mon = "08:00-16:00", tue = "08:00-16:00",
            wed = "08:00-16:00", thu = "08:00-16:00" },          -- Fri/Sat weekend
  holidays = { hijri "10-01", hijri "10-02", hijri "12-10", "09-23" },
}

calendar "iran" {
  timezone = "Asia/Tehran",
  hours = { sat = "08:00-16:00", sun = "08:00-16:00", mon = "08:00-16:00",
            tue = "08:00-16:00", wed = "08:00-16:00" },          -- Thu/Fri weekend
  holidays = { persian "01-01", persian "01-02", persian "01-03", persian "01-04" },  -- Nowruz
}

calendar "germany" {
  timezone = "Europe/Berlin",
  hours = { mon = "09:00-17:00", tue = "09:00-17:00", wed = "09:00-17:00",
            thu = "09:00-17:00", fri = "09:00-17:00" },
  holidays = { "12-25", "12-26", "01-01", "10-03" },
}

local TEAM = { ["Asia/Riyadh"] = "gulf", ["Asia/Dubai"] = "gulf", ["Asia/Tehran"] = "iran",
               ["Europe/Berlin"] = "germany", ["Europe/Vienna"] = "germany" }

sla "answered-by-the-local-team" {
  calendar = function(t) return TEAM[t.customer_tz or ""] or "germany" end,
  start = "created_at", stop = "first_reply_at",
  target = "4h",
  notify_in = "business",                -- nobody is told while their office is shut
  on_breach = function(t, s)
    mail { to = t.owner_email or "support-lead@example.com",
           subject = "Waiting (" .. s.calendar .. " hours): #" .. t.ref .. " " .. t.subject }
  end,
}
