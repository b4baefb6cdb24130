-- Hours that change with the season: a team in Riyadh works Sun-Thu
-- 08:00-16:00, shorter hours in Ramadan (whatever Gregorian dates it falls
-- on this year), a half day before a holiday, and a Saturday worked to make
-- up for a bridge day.  The SLA counts only the hours the team is in.
-- Copy to rules.d/ and adjust.

calendar "riyadh" {
  timezone = "Asia/Riyadh",
  hours = { sun = "08:00-16:00", mon = "08:00-16:00", tue = "08:00-16:00",
            wed = "08:00-16:00", thu = "08:00-16:00" },          -- Fri/Sat weekend
  holidays = { hijri "10-01", hijri "10-02", hijri "10-03",     -- Eid al-Fitr
               "09-23" },                                       -- Saudi National Day
  special = {
    -- Ramadan: 10:00-15:00; "09-30" is the month's last day, 29th or 30th
    { hijri "09-01", hijri "09-30",
      hours = { sun = "10:00-15:00", mon = "10:00-15:00", tue = "10:00-15:00",
                wed = "10:00-15:00", thu = "10:00-15:00" } },
    { "2026-09-22", hours = "08:00-12:00" },                    -- the eve of National Day
    { "2026-09-26", hours = "08:00-16:00" },                    -- a Saturday worked
  },
}

sla "first-response-riyadh" {
  calendar = "riyadh",
  start = "created_at", stop = "first_reply_at",
  target = { urgent = "2h", default = "6h" },
  on_breach = function(t, s)
    mail { to = t.owner_email or "support-lead@example.com",
           subject = "SLA breached: #" .. t.ref .. " " .. t.subject }
  end,
}
