-- Tests for calendar-per-customer.lua: the same four working hours end at
-- different instants for customers in Riyadh, Tehran and Berlin.  Times
-- are UTC unless a zone is named.

test "Thursday afternoon: Riyadh breaches Sunday, Tehran Saturday, Berlin the same day" {
  function(t)
    t.at "2026-03-05 12:00"          -- Thursday: 15:00 Riyadh, 15:30 Tehran, 13:00 Berlin
    local riyadh = t.ticket { subject = "A", customer_tz = "Asia/Riyadh" }
    local tehran = t.ticket { subject = "B", customer_tz = "Asia/Tehran" }
    local berlin = t.ticket { subject = "C", customer_tz = "Europe/Berlin" }
    t.at "2026-03-05 16:00"          -- Berlin 17:00: four hours done
    t.expect { event = "breach", ticket = berlin, at = "2026-03-05 16:00" }
    t.expect_mail { subject = "Waiting (germany hours): #3 C" }
    t.at "2026-03-08 23:00"
    -- Riyadh: 1h Thursday, weekend, 3h Sunday from 08:00 = 11:00 Riyadh
    t.expect { event = "breach", ticket = riyadh, at = "2026-03-08 11:00 Asia/Riyadh" }
    -- Tehran: Thursday is the weekend there; Saturday 08:00 + 4h = 12:00 Tehran
    t.expect { event = "breach", ticket = tehran, at = "2026-03-07 12:00 Asia/Tehran" }
    t.expect_mail { subject = "Waiting (iran hours): #2 B" }
  end,
}

test "a customer whose zone changes is measured in the new team's hours" {
  function(t)
    t.at "2026-03-05 12:00"
    local tk = t.ticket { subject = "Moved", customer_tz = "Europe/Berlin" }
    t.at "2026-03-05 13:00"
    t.change(tk, { customer_tz = "Asia/Riyadh" })
    t.at "2026-03-05 16:00"
    t.expect_not { event = "breach", ticket = tk }
    t.at "2026-03-08 23:00"
    t.expect { event = "breach", ticket = tk, at = "2026-03-08 11:00 Asia/Riyadh" }
  end,
}

test "an unknown zone falls back to the German team" {
  function(t)
    t.at "2026-03-06 14:00"          -- Friday, 15:00 Berlin
    local tk = t.ticket { subject = "Somewhere" }
    t.at "2026-03-09 10:00"          -- 2h Friday, the weekend, 2h Monday from 09:00 Berlin
    t.expect { event = "breach", ticket = tk, at = "2026-03-09 11:00 Europe/Berlin" }
  end,
}
