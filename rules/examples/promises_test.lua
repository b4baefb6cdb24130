-- Tests for promises.lua: a date given to the customer, and one written in
-- a reply, are watched like deadlines.

test "a promised date warns two hours before and escalates four hours after" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { subject = "Refund", owner_email = "layla@example.com",
                          due_at = "2026-03-06 12:00" }
    t.at "2026-03-06 09:59"
    t.expect_no_mail()
    t.at "2026-03-06 10:00"
    t.expect { event = "warn", rule = "promised-date", ticket = tk }
    t.expect_mail { to = "layla@example.com", subject = "Promise due in 2 hours: #1 Refund" }
    t.at "2026-03-06 12:00"
    t.expect { event = "breach", rule = "promised-date", at = "2026-03-06 12:00" }
    t.expect_mail { to = "layla@example.com", subject = "Promise broken: #1 Refund" }
    t.at "2026-03-06 16:00"
    t.expect_mail { to = "support-lead@example.com", subject = "Still broken: #1" }
  end,
}

test "a promise kept is met and sends nothing more" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { owner_email = "layla@example.com", due_at = "2026-03-06 12:00" }
    t.at "2026-03-06 11:00"
    t.expect_mail { subject = t.contains "Promise due in 2 hours" }
    t.solve(tk)
    t.expect { event = "met", rule = "promised-date", ticket = tk }
    t.at "2026-03-08 00:00"
    t.expect_no_mail()
  end,
}

test "moving the date cancels the old promise and watches the new one" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { owner_email = "layla@example.com", due_at = "2026-03-06 12:00" }
    t.at "2026-03-06 08:00"
    t.change(tk, { due_at = "2026-03-09 12:00" })
    t.expect { event = "cancelled", rule = "promised-date", detail = "moved" }
    t.at "2026-03-06 12:00"
    t.expect_no_mail()
    t.at "2026-03-09 12:00"
    t.expect { event = "breach", rule = "promised-date", at = "2026-03-09 12:00" }
  end,
}

test "a promise in words is held to" {
  function(t)
    t.at "2026-03-08 07:00"
    local tk = t.ticket { owner_email = "layla@example.com", customer_tz = "Africa/Cairo" }
    t.at "2026-03-08 09:00"
    t.reply(tk, { body = "We will get back to you within 24 hours." })
    t.at "2026-03-09 08:00"
    t.expect { event = "warn", rule = "promised-in-words", ticket = tk, at = "2026-03-09 08:00" }
    t.expect_mail { to = "layla@example.com", subject = "You promised #1 for within the hour" }
    t.at "2026-03-09 09:00"
    t.expect_mail { subject = "Promise in your reply was not kept: #1" }
  end,
}

test "an Arabic promise counts too, and a due date wins over words" {
  function(t)
    t.at "2026-03-08 07:00"
    local words = t.ticket { owner_email = "layla@example.com" }
    local dated = t.ticket { owner_email = "layla@example.com", due_at = "2026-03-20 12:00" }
    t.reply(words, { body = "سنعود إليك خلال 24 ساعة" })
    t.reply(dated, { body = "سنعود إليك خلال 24 ساعة" })
    t.at "2026-03-09 07:00"
    t.expect { event = "breach", rule = "promised-in-words", ticket = words }
    t.expect_not { rule = "promised-in-words", ticket = dated, event = "breach" }
  end,
}
