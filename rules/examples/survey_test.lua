-- Tests for survey.lua.

test "every solved case asks its customer an hour later" {
  function(t)
    t.at "2026-03-05 09:00"
    local a = t.ticket { subject = "Printer", customer_email = "hoda@example.com",
                         customer_name = "Hoda" }
    local b = t.ticket { subject = "Scanner", customer_email = "hoda@example.com",
                         customer_name = "Hoda" }
    t.at "2026-03-05 12:00"
    t.solve(a)
    t.solve(b)
    t.at "2026-03-05 12:59"
    t.expect_no_mail()
    t.at "2026-03-05 13:00"
    t.expect_mail { to = "hoda@example.com", ticket = a, template = "csat", survey = true,
                    subject = "How did we do with 1?",
                    vars = { ticket_subject = "Printer", solved_date = "Mar 5, 2026" } }
    t.expect_mail { to = "hoda@example.com", ticket = b, subject = "How did we do with 2?" }
  end,
}

test "in the customer's language and calendar" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { customer_email = "ali@example.com", customer_name = "علي",
                          customer_locale = "ar-SA", customer_tz = "Asia/Riyadh" }
    t.solve(tk)
    t.wait "1h"
    t.expect_mail { to = "ali@example.com", locale = "ar",
                    subject = "ما رأيك في خدمتنا بخصوص الطلب 1؟",
                    vars = { solved_date = t.contains "١٤٤٧" },    -- the Hijri year
                    body = t.contains "مرحبًا علي" }
  end,
}

test "no survey for spam, duplicates or the team's own tickets" {
  function(t)
    t.at "2026-03-05 09:00"
    local spam = t.ticket { raw_status = "spam" }
    local internal = t.ticket { extra = { internal = true } }
    t.solve(spam)
    t.solve(internal)
    t.wait "1h"
    t.expect { event = "cancelled", rule = "survey-every-case", ticket = spam, detail = "unless" }
    t.expect { event = "cancelled", rule = "survey-every-case", ticket = internal }
    t.expect_no_mail()
  end,
}

test "a ticket reopened within the hour is asked only when solved again" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { }
    t.solve(tk)
    t.wait "30m"
    t.reopen(tk)
    t.wait "1d"
    t.expect_no_mail()
    t.solve(tk)
    t.wait "1h"
    t.expect_mail { to = "customer1@example.com", template = "csat" }
  end,
}
