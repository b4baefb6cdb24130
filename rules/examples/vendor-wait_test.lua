-- Tests for vendor-wait.lua: the resolution clock stops while the helpdesk's
-- own status says the ticket waits on a vendor (any case), while the agents'
-- field says so, and while the customer is asked; it runs again after.
-- Times are UTC; the default target is 24 hours of waiting on the team.

test "a raw status Waiting for vendor stops the clock, back to Open restarts it" {
  zone = "UTC",
  function(t)
    t.at "2026-03-02 09:00"
    local tk = t.ticket { subject = "Disk order", owner_email = "omar@example.com" }
    t.at "2026-03-02 11:00"                       -- two hours used
    t.change(tk, { raw_status = "Waiting for vendor" })  -- still open to wafa
    t.expect { event = "paused", rule = "vendor-aware-resolution", ticket = tk }
    t.at "2026-03-04 11:00"                       -- two days at the vendor: not counted
    t.expect_no_mail()
    t.change(tk, { raw_status = "Open" })
    t.expect { event = "resumed", rule = "vendor-aware-resolution", ticket = tk }
    t.at "2026-03-05 02:59"
    t.expect_not { event = "warn" }
    t.at "2026-03-05 03:00"                       -- 2h + 16h: 75% of 24h
    t.expect { event = "warn", rule = "vendor-aware-resolution", ticket = tk }
    t.expect_mail { to = "omar@example.com", subject = "Due soon: #1 Disk order" }
    t.at "2026-03-05 08:59"
    t.expect_not { event = "breach" }
    t.at "2026-03-05 09:00"                       -- 2h + 22h: the breach
    t.expect { event = "breach", rule = "vendor-aware-resolution", ticket = tk }
    t.expect_mail { to = "support-lead@example.com", subject = "Resolution overdue: #1 Disk order" }
  end,
}

test "raw statuses match without regard to case; others run" {
  zone = "UTC",
  function(t)
    t.at "2026-03-02 09:00"
    local held = t.ticket { subject = "Held", raw_status = "ON HOLD" }  -- first seen on hold
    local other = t.ticket { subject = "Other", raw_status = "Waiting for parts" }
    t.at "2026-03-03 09:00"
    t.expect { event = "breach", rule = "vendor-aware-resolution", ticket = other }
    t.expect_not { event = "breach", ticket = held }
    t.at "2026-03-10 09:00"
    t.expect_not { event = "breach", ticket = held }
  end,
}

test "a field the agents set (a function of the ticket) stops the clock too" {
  zone = "UTC",
  function(t)
    t.at "2026-03-02 09:00"
    local tk = t.ticket { subject = "Carrier lost it", owner_email = "omar@example.com" }
    t.at "2026-03-02 21:00"                       -- twelve hours used
    t.change(tk, { extra = { waiting_on = "vendor" } })
    t.expect { event = "paused", rule = "vendor-aware-resolution", ticket = tk }
    t.at "2026-03-03 21:00"
    t.change(tk, { extra = { waiting_on = "us" } })
    t.expect { event = "resumed", rule = "vendor-aware-resolution", ticket = tk }
    t.at "2026-03-04 08:59"
    t.expect_not { event = "breach" }
    t.at "2026-03-04 09:00"                       -- 12h + 12h
    t.expect { event = "breach", rule = "vendor-aware-resolution", ticket = tk }
  end,
}

test "waiting on the customer still pauses, and solving it meets the SLA" {
  zone = "UTC",
  function(t)
    t.at "2026-03-02 09:00"
    local tk = t.ticket { subject = "Logs please" }
    t.at "2026-03-02 10:00"
    t.change(tk, { status = "pending" })
    t.expect { event = "paused", rule = "vendor-aware-resolution", ticket = tk }
    t.at "2026-03-06 10:00"
    t.change(tk, { status = "solved", solved_at = "now" })
    t.expect { event = "met", rule = "vendor-aware-resolution", ticket = tk }
    t.expect_not { event = "breach" }
  end,
}

test "an urgent ticket has 8 hours, a vendor's wait not counted" {
  zone = "UTC",
  function(t)
    t.at "2026-03-02 09:00"
    local tk = t.ticket { subject = "Outage", priority = "urgent" }
    t.at "2026-03-02 11:00"                       -- two hours used
    t.change(tk, { raw_status = "On hold" })
    t.at "2026-03-03 11:00"                       -- a day on hold: not counted
    t.change(tk, { raw_status = "Open" })
    t.at "2026-03-03 16:59"
    t.expect_not { event = "breach" }
    t.at "2026-03-03 17:00"                       -- 2h + 6h
    t.expect { event = "breach", rule = "vendor-aware-resolution", ticket = tk }
  end,
}
