-- Tests for special-hours.lua: Riyadh's hours in and out of Ramadan, the
-- half day and the Saturday worked.  Times are Riyadh's.

test "out of Ramadan a normal ticket gets six working hours" {
  zone = "Asia/Riyadh",
  function(t)
    t.at "2026-04-05 08:00"                       -- a Sunday after Eid
    local tk = t.ticket { subject = "Login", owner_email = "fahad@example.com" }
    t.at "2026-04-05 13:59"
    t.expect_no_mail()
    t.at "2026-04-05 14:00"
    t.expect { event = "breach", ticket = tk, at = "2026-04-05 14:00" }
    t.expect_mail { to = "fahad@example.com", subject = "SLA breached: #1 Login" }
  end,
}

test "in Ramadan the day is 10:00-15:00, so six hours run into the next day" {
  zone = "Asia/Riyadh",
  function(t)
    t.at "2026-03-01 09:00"                       -- a Ramadan Sunday, before opening
    local tk = t.ticket { subject = "Invoice", owner_email = "fahad@example.com" }
    local urgent = t.ticket { subject = "Down", priority = "urgent", owner_email = "fahad@example.com" }
    t.at "2026-03-01 12:00"                       -- urgent: two hours from 10:00
    t.expect { event = "breach", ticket = urgent, at = "2026-03-01 12:00" }
    t.at "2026-03-01 23:00"
    t.expect_not { event = "breach", ticket = tk }
    t.at "2026-03-02 11:00"                       -- 5h on Sunday, 1h on Monday
    t.expect { event = "breach", ticket = tk, at = "2026-03-02 11:00" }
  end,
}

test "the last day of Ramadan, Eid and the weekend, then normal hours" {
  zone = "Asia/Riyadh",
  function(t)
    t.at "2026-03-19 14:00"                       -- 29 Ramadan 1447, a Thursday: 1h left
    local tk = t.ticket { subject = "Refund", owner_email = "fahad@example.com" }
    t.at "2026-03-22 12:59"                       -- Eid (20-22 March) closes Sunday too
    t.expect_not { event = "breach", ticket = tk }
    t.at "2026-03-23 13:00"                       -- 1h Thursday, 5h Monday from 08:00
    t.expect { event = "breach", ticket = tk, at = "2026-03-23 13:00" }
  end,
}

test "a half day before National Day, then a Saturday worked" {
  zone = "Asia/Riyadh",
  function(t)
    t.at "2026-09-22 10:00"                       -- Tuesday, open until 12:00
    local tk = t.ticket { subject = "Contract", owner_email = "fahad@example.com" }
    t.at "2026-09-25 23:00"                       -- the 23rd is a holiday, Thu 24th 8h
    t.expect { event = "breach", ticket = tk, at = "2026-09-24 12:00" }   -- 2h + 4h
    local late = t.ticket { subject = "Late", owner_email = "fahad@example.com" }
    t.at "2026-09-26 14:00"                       -- Friday closed; Saturday 08:00 + 6h
    t.expect { event = "breach", ticket = late, at = "2026-09-26 14:00" }
  end,
}
