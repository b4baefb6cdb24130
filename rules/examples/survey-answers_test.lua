-- Tests for survey-answers.lua.

test "a low score mails the lead and follows up with the customer" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { subject = "Refund", customer_email = "hoda@example.com",
                          customer_name = "Hoda", owner_email = "omar@example.com",
                          queue = "Billing" }
    t.solve(tk)
    t.wait "1d"
    t.expect_mail { to = "hoda@example.com", template = "csat", survey = true }
    t.wait "2h"
    t.answer { score = 2, comment = "Nobody called back", ticket = tk }
    t.expect { event = "answer", ticket = tk, detail = "score 2" }
    t.expect_mail { to = "lead@example.com", phase = "answer", subject = "Low score 2/5 on 1: Refund",
                    body = t.contains "Comment: Nobody called back" }
    t.expect_mail { to = "hoda@example.com", template = "answer-followup",
                    subject = "We are sorry about 1", body = t.contains "Hello Hoda" }
  end,
}

test "in the customer's language" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { customer_email = "ali@example.com", customer_name = "علي",
                          customer_locale = "ar-EG" }
    t.solve(tk)
    t.wait "1d"
    t.answer { score = 1 }
    t.expect_mail { to = "lead@example.com", body = t.contains "Comment: (none)" }
    t.expect_mail { to = "ali@example.com", template = "answer-followup", locale = "ar",
                    body = t.contains "مرحبًا علي" }
  end,
}

test "a good score sends nothing, and one survey is acted on once" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { }
    t.solve(tk)
    t.wait "1d"
    t.answer { score = 4, comment = "Quick, thanks" }
    t.answer { score = 1 }   -- the same survey answered again: no rule acts twice
    t.expect_no_mail { to = "lead@example.com" }
  end,
}
