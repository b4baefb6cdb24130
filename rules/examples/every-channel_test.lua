-- Tests for every-channel.lua.

test "a chat unanswered for 15 minutes goes to the chat lead" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { subject = "Can't log in", extra = { channel = "chat" },
                          owner_email = "agent@example.com", customer_name = "Hoda" }
    t.at "2026-03-05 09:07:30"
    t.expect { event = "warn", rule = "channel-first-reply", ticket = tk }
    t.expect_mail { to = "agent@example.com", subject = "Half the time gone on chat: #1 Can't log in" }
    t.at "2026-03-05 09:15"
    t.expect { event = "breach", at = "2026-03-05 09:15" }
    t.expect_mail { to = "chat-lead@example.com", subject = "Unanswered chat: #1 Can't log in",
                    body = "Hoda has waited 15 minutes on chat.\n" }
    t.at "2026-03-05 10:15"
    t.expect_mail { to = "head-of-support@example.com",
                    subject = "Still unanswered after an hour more (chat): #1" }
  end,
}

test "each channel keeps its own clock" {
  function(t)
    t.at "2026-03-05 09:00"
    local phone = t.ticket { extra = { channel = "phone" } }
    local social = t.ticket { extra = { channel = "social" } }
    local email = t.ticket { }                         -- no channel: mail
    t.at "2026-03-05 10:00"
    t.expect_mail { to = "phone-lead@example.com", ticket = phone }
    t.expect_no_mail { ticket = social, subject = t.contains "Unanswered" }
    t.at "2026-03-05 11:00"
    t.expect_mail { to = "social-lead@example.com", subject = "Unanswered social: #2 Ticket 2" }
    t.at "2026-03-05 17:00"
    t.expect_mail { to = "support-lead@example.com", subject = "Unanswered email: #3 Ticket 3" }
  end,
}

test "an answer in time, then the customer's next message is watched too" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { extra = { channel = "chat" }, owner_email = "agent@example.com" }
    t.wait "5m"
    t.reply(tk)
    t.expect { event = "met", rule = "channel-first-reply" }
    t.wait "1m"
    t.customer_reply(tk)
    t.wait "14m"
    t.expect_no_mail { subject = t.contains "Customer waiting" }
    t.wait "1m"
    t.expect_mail { to = "agent@example.com", subject = "Customer waiting on chat: #1 Ticket 1" }
    t.expect_no_mail { subject = t.contains "Unanswered" }
  end,
}

test "waiting on the customer does not count against the team" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { extra = { channel = "phone" } }
    t.wait "30m"
    t.change(tk, { status = "pending" })
    t.wait "1d"
    t.expect_not { event = "breach" }
    t.change(tk, { status = "open" })
    t.wait "30m"
    t.expect { event = "breach", rule = "channel-first-reply", ticket = tk }
  end,
}
