-- Tests for customer-mail.lua: the survey after a solve, the reminders to a
-- customer who has not answered, and the yearly thank-you.  Subjects come
-- from the templates in [mail] templates (rules/templates/).

test "two days after the solve the customer gets the survey in their language" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { subject = "Wi-Fi", customer_email = "maryam@example.com",
                          customer_name = "Maryam", customer_locale = "fa-IR",
                          customer_tz = "Asia/Tehran" }
    t.at "2026-03-05 15:00"
    t.solve(tk)
    t.at "2026-03-07 14:59"
    t.expect_no_mail()
    t.at "2026-03-07 15:00"
    t.expect { event = "due", rule = "csat", ticket = tk }
    t.expect_mail { to = "maryam@example.com", template = "csat", survey = true,
                    subject = "از پشتیبانی ما در درخواست 1 راضی بودید؟",
                    vars = { customer_name = "Maryam", ticket_ref = "1", ticket_subject = "Wi-Fi" },
                    body = t.contains "سلام Maryam" }
  end,
}

test "a ticket reopened before the survey gets none until it is solved again" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { customer_email = "sara@example.com", customer_name = "Sara" }
    t.solve(tk)
    t.at "2026-03-06 09:00"
    t.reopen(tk)
    t.at "2026-03-08 09:00"
    t.expect_no_mail { template = "csat" }
    t.solve(tk)
    t.at "2026-03-10 09:00"
    t.expect_mail { to = "sara@example.com", template = "csat",
                    subject = "How did we do with 1?" }
  end,
}

test "a customer who does not answer is reminded every three days, three times" {
  function(t)
    t.at "2026-03-01 10:00"
    local tk = t.ticket { customer_email = "karim@example.com", customer_name = "Karim" }
    t.reply(tk, { status = "pending" })
    for n = 1, 3 do
      t.wait "3d"
      t.expect_mail { to = "karim@example.com", template = "pending-reminder",
                      vars = { reminder = tostring(n) },
                      subject = "We are waiting for your reply on 1" }
    end
    t.wait "30d"
    t.expect_no_mail()
  end,
}

test "the reminders stop once the customer answers" {
  function(t)
    t.at "2026-03-01 10:00"
    local tk = t.ticket { customer_email = "karim@example.com" }
    t.reply(tk, { status = "pending" })
    t.wait "3d"
    t.expect_mail { template = "pending-reminder" }
    t.wait "1d"
    t.customer_reply(tk)
    t.wait "10d"
    t.expect_no_mail { template = "pending-reminder" }
  end,
}

test "a customer with five solved tickets and none open is thanked once a year" {
  function(t)
    t.at "2025-01-10 09:00"
    for i = 1, 5 do
      t.ticket { customer_email = "loyal@example.com", customer_name = "Nadia", status = "solved",
                 created_at = "2025-01-0" .. i .. " 09:00", solved_at = "2025-01-0" .. i .. " 12:00" }
    end
    t.ticket { customer_email = "new@example.com", status = "solved", solved_at = "now" }
    t.wait "1h"
    t.expect_mail { to = "loyal@example.com", template = "thank-you-offer",
                    subject = "Thank you for another year with us, Nadia",
                    vars = { offer_expiry = "Feb 9, 2025" } }   -- thirty days to use it
    t.expect_no_mail { to = "new@example.com", template = "thank-you-offer" }
    t.wait "100d"
    t.expect_no_mail { template = "thank-you-offer" }
    t.wait "300d"
    t.expect_mail { to = "loyal@example.com", template = "thank-you-offer" }
  end,
}
