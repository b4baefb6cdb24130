-- Tests for first-response.lua: run them with `wafa test -c wafa.conf`.

test "an urgent ticket with no reply breaches after one hour" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { priority = "urgent", subject = "Printer on fire",
                          owner_email = "omar@example.com", customer_name = "Hoda" }
    t.wait "59m"
    t.expect_no_mail()
    t.wait "1m"
    t.expect { event = "breach", ticket = tk, at = "2026-03-05 10:00" }
    t.expect_mail { to = "omar@example.com", subject = "SLA breached: #1 Printer on fire",
                    body = t.contains "from Hoda has had no first reply for 1 hours" }
  end,
}

test "a reply in time sends nothing" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { priority = "high", owner_email = "omar@example.com" }
    t.wait "3h"
    t.reply(tk)
    t.expect { event = "met", ticket = tk }
    t.wait "2d"
    t.expect_not { event = "breach" }
    t.expect_no_mail()
  end,
}

test "without an owner the lead hears of it" {
  function(t)
    t.at "2026-03-05 09:00"
    t.ticket { subject = "Nobody's" }
    t.wait "8h"
    t.expect_mail { to = "support-lead@example.com", subject = "SLA breached: #1 Nobody's" }
  end,
}

test "a high-priority ticket breaches after four hours, a normal one after eight" {
  function(t)
    t.at "2026-03-05 09:00"
    local high = t.ticket { priority = "high", subject = "Slow", owner_email = "omar@example.com" }
    local normal = t.ticket { subject = "Question", owner_email = "omar@example.com" }
    t.at "2026-03-05 13:00"
    t.expect { event = "breach", ticket = high, at = "2026-03-05 13:00" }
    t.expect_mail { to = "omar@example.com", subject = "SLA breached: #1 Slow",
                    body = t.contains "no first reply for 4 hours" }
    t.expect_not { event = "breach", ticket = normal }
    t.at "2026-03-05 17:00"
    t.expect { event = "breach", ticket = normal, at = "2026-03-05 17:00" }
  end,
}
