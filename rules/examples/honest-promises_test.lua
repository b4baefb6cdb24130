-- Tests for honest-promises.lua.

test "a promise with time to spare: one reminder an hour before, nothing once kept" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { subject = "Refund", owner_email = "layla@example.com",
                          due_at = "2026-03-06 12:00" }
    t.at "2026-03-06 10:59"
    t.expect_no_mail()                           -- 4h before: given with time, no question
    t.at "2026-03-06 11:00"
    t.expect_mail { to = "layla@example.com",
                    subject = "One hour left on your promise: #1 Refund" }
    t.solve(tk)
    t.expect { event = "met", rule = "honest-promise", ticket = tk }
    t.wait "2d"
    t.expect_no_mail()
  end,
}

test "a promise made with less than four hours is questioned at once" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { subject = "Login", owner_email = "layla@example.com" }
    t.at "2026-03-05 15:00"
    t.reply(tk, { body = "We will fix it within 2 hours." })
    t.expect { event = "warn", phase = "warn-4h", at = "2026-03-05 15:00", due = "2026-03-05 13:00" }
    t.expect_mail { to = "layla@example.com",
                    subject = "Can you keep it? Less than 4 hours promised on #1 Login",
                    body = t.contains "runs out at" }
    t.at "2026-03-05 16:00"
    t.expect_mail { subject = "One hour left on your promise: #1 Login" }
  end,
}

test "a broken promise goes to the lead, then the head of support" {
  function(t)
    t.at "2026-03-05 09:00"
    t.ticket { subject = "Parcel", owner_name = "Layla", owner_email = "layla@example.com",
               due_at = "2026-03-06 09:00" }
    t.at "2026-03-06 09:00"
    t.expect { event = "breach", rule = "honest-promise" }
    t.expect_mail { to = "support-lead@example.com", subject = "Promise broken: #1 Parcel",
                    body = t.contains "by Layla" }
    t.at "2026-03-07 09:00"
    t.expect_mail { to = "head-of-support@example.com", subject = "Broken for a day: #1 Parcel" }
  end,
}

test "moving the date in time is an honest correction, not a broken promise" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { owner_email = "layla@example.com", due_at = "2026-03-06 12:00" }
    t.at "2026-03-06 11:00"
    t.expect_mail { subject = t.contains "One hour left" }
    t.change(tk, { due_at = "2026-03-09 12:00" })  -- the customer was told a new date
    t.expect { event = "cancelled", rule = "honest-promise", detail = "moved" }
    t.at "2026-03-07 00:00"
    t.expect_not { event = "breach" }
    t.expect_no_mail()
  end,
}
