-- Tests for follow-up.lua.

test "an open ticket nobody writes on nudges its owner daily, the lead from day three" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { subject = "Export fails", owner_email = "omar@example.com" }
    t.reply(tk)                                 -- answered, then forgotten
    t.wait "1d"
    t.expect_mail { to = "omar@example.com", subject = "No update for 1 day(s): #1 Export fails" }
    t.wait "1d"
    t.expect_mail { to = "omar@example.com", subject = "No update for 2 day(s): #1 Export fails" }
    t.expect_no_mail { to = "support-lead@example.com" }
    t.wait "1d"
    t.expect_mail { to = "omar@example.com", subject = "No update for 3 day(s): #1 Export fails" }
    t.expect_mail { to = "support-lead@example.com", subject = "Stalled 3 days: #1 Export fails" }
  end,
}

test "the customer hears every two days, at most three times" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { subject = "Export fails", customer_email = "sara@example.com",
                          customer_name = "Sara" }
    t.reply(tk)
    for _, day in ipairs({ "2026-03-04 10:00", "2026-03-06 10:00", "2026-03-08 10:00" }) do
      t.at(day)
      t.expect_mail { to = "sara@example.com", subject = "Re: Export fails [#1]", at = day,
                      body = t.contains "still working on your request #1" }
    end
    t.at "2026-03-20 10:00"
    t.expect_no_mail { to = "sara@example.com" }
  end,
}

test "an agent's message starts the count anew; solving ends it" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { owner_email = "omar@example.com" }
    t.reply(tk)
    t.wait "20h"
    t.reply(tk)                                 -- a new update: the day starts again
    t.wait "20h"
    t.expect_no_mail { to = "omar@example.com" }
    t.wait "4h"
    t.expect_mail { to = "omar@example.com", subject = t.contains "No update for 1 day(s)" }
    t.solve(tk)
    t.wait "10d"
    t.expect_no_mail()
  end,
}

test "a ticket waiting on the customer is not chased" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { owner_email = "omar@example.com" }
    t.reply(tk, { status = "pending" })
    t.wait "5d"
    t.expect_no_mail { rule = "nudge-owner" }
    t.expect_no_mail { rule = "still-on-it" }
  end,
}
