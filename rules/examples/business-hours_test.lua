-- Tests for business-hours.lua: Cairo's working week (Sun-Thu 09:00-17:00),
-- its holidays, pauses while the customer is asked, and the escalation chain.
-- Times are Cairo's, as the team reads them.

test "a ticket opened late on Thursday breaches on Sunday afternoon" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-05 15:00"                       -- Thursday; two working hours left
    local tk = t.ticket { subject = "VPN down", owner_email = "omar@example.com" }
    t.at "2026-03-07 23:00"                       -- the weekend passes: nothing
    t.expect_no_mail()
    t.at "2026-03-08 13:00"                       -- 6 of 8 working hours: the warning
    t.expect { event = "warn", rule = "first-response-hours", ticket = tk }
    t.expect_mail { to = "omar@example.com", subject = "Due soon: #1 VPN down" }
    t.at "2026-03-08 15:00"
    t.expect { event = "breach", rule = "first-response-hours", at = "2026-03-08 15:00" }
    t.expect_mail { to = "omar@example.com", subject = "SLA breached: #1 VPN down" }
    t.at "2026-03-08 17:00"                       -- two working hours later: the lead
    t.expect { event = "escalate", phase = "breach+2h" }
    t.expect_mail { to = "support-lead@example.com", subject = "Escalation: #1 VPN down" }
    t.at "2026-03-09 17:00"                       -- one more working day: the head
    t.expect_mail { to = "head-of-support@example.com", subject = "Second escalation: #1 VPN down" }
  end,
}

test "Eid al-Adha does not count as a working day" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-05-26 16:00"                       -- Tuesday; Wednesday is 10 Dhu al-Hijjah
    t.ticket { subject = "Invoice", owner_email = "omar@example.com" }
    t.at "2026-05-28 15:59"
    t.expect_not { event = "breach" }
    t.at "2026-05-28 16:00"                       -- 1h Tuesday + 7h Thursday
    t.expect { event = "breach", rule = "first-response-hours" }
  end,
}

test "waiting on the customer stops the clock" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-08 09:00"                       -- Sunday morning
    local tk = t.ticket { subject = "Need logs", owner_email = "omar@example.com" }
    t.at "2026-03-08 10:00"
    t.change(tk, { status = "pending" })          -- asked for logs: one hour used
    t.expect { event = "paused", rule = "first-response-hours", ticket = tk }
    t.at "2026-03-09 10:00"
    t.customer_reply(tk)                          -- the logs arrive; the clock runs again
    t.expect { event = "resumed", rule = "first-response-hours", ticket = tk }
    t.at "2026-03-09 16:59"
    t.expect_not { event = "breach", rule = "first-response-hours" }
    t.at "2026-03-09 17:00"                       -- 1h + 7h
    t.expect { event = "breach", rule = "first-response-hours", ticket = tk }
  end,
}

test "an answer in time ends the first-response SLA and starts next-reply" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-08 09:00"
    local tk = t.ticket { subject = "Login", owner_email = "omar@example.com" }
    t.at "2026-03-08 11:00"
    t.reply(tk)
    t.expect { event = "met", rule = "first-response-hours" }
    t.at "2026-03-08 12:00"
    t.customer_reply(tk)                          -- the customer writes back
    t.at "2026-03-08 16:00"                       -- four working hours unanswered
    t.expect { event = "breach", rule = "next-reply", ticket = tk }
    t.expect_mail { to = "omar@example.com", subject = "Customer waiting: #1 Login" }
    t.expect_not { event = "breach", rule = "first-response-hours" }
  end,
}

test "gold customers are solved within one working day" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-08 09:00"
    local gold = t.ticket { subject = "Gold", owner_email = "omar@example.com",
                            first_reply_at = "now", extra = { tier = "gold" } }
    local plain = t.ticket { subject = "Plain", owner_email = "omar@example.com",
                             first_reply_at = "now" }
    t.at "2026-03-08 17:00"
    t.expect { event = "breach", rule = "resolution", ticket = gold }
    t.expect_not { event = "breach", rule = "resolution", ticket = plain }
    t.at "2026-03-10 17:00"                       -- three working days
    t.expect { event = "breach", rule = "resolution", ticket = plain }
  end,
}

test "urgent tickets get one working hour, high ones four" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-08 09:00"                       -- Sunday morning
    local urgent = t.ticket { priority = "urgent", subject = "Down", owner_email = "omar@example.com" }
    local high = t.ticket { priority = "high", subject = "Slow", owner_email = "omar@example.com" }
    t.at "2026-03-08 10:00"
    t.expect { event = "breach", rule = "first-response-hours", ticket = urgent,
               at = "2026-03-08 10:00" }
    t.expect_not { event = "breach", rule = "first-response-hours", ticket = high }
    t.at "2026-03-08 13:00"
    t.expect { event = "breach", rule = "first-response-hours", ticket = high,
               at = "2026-03-08 13:00" }
  end,
}

test "an unsolved ticket reaches the lead one working day after its resolution breach" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-08 09:00"
    local tk = t.ticket { subject = "Slow", owner_email = "omar@example.com", first_reply_at = "now" }
    t.at "2026-03-10 17:00"                       -- three working days
    t.expect { event = "breach", rule = "resolution", ticket = tk, at = "2026-03-10 17:00" }
    t.expect_mail { to = "omar@example.com", subject = "Not solved in time: #1 Slow" }
    t.at "2026-03-11 16:59"
    t.expect_no_mail { to = "support-lead@example.com", subject = "Resolution escalation: #1 Slow" }
    t.at "2026-03-11 17:00"                       -- one more working day
    t.expect { event = "escalate", rule = "resolution", ticket = tk, at = "2026-03-11 17:00" }
    t.expect_mail { to = "support-lead@example.com", subject = "Resolution escalation: #1 Slow" }
  end,
}
