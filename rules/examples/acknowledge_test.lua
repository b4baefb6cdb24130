-- Tests for acknowledge.lua: the answer time the customer is told, in
-- their language, skips the weekend and Eid; the SLA holds the team to it.
-- Times are Cairo's.

test "a ticket on the afternoon before Eid is promised for the morning after" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-19 16:00"          -- Thursday, 29 Ramadan: 1 working hour left
    local tk = t.ticket { subject = "Router", customer_email = "hoda@example.com",
                          customer_name = "Hoda", customer_locale = "en",
                          customer_tz = "Africa/Cairo", owner_email = "omar@example.com" }
    t.at "2026-03-19 16:01"
    -- Friday and Saturday are the weekend, Eid closes Sunday: 3h on Monday
    t.expect_mail { to = "hoda@example.com", template = "acknowledgement", at = "2026-03-19 16:01",
                    vars = { answer_by = t.matches "^Mar 23, 2026, 12:00.+PM$" } }
    t.at "2026-03-23 11:59"
    t.expect_not { event = "breach", rule = "answer-as-promised" }
    t.at "2026-03-23 12:00"
    t.expect { event = "breach", rule = "answer-as-promised", ticket = tk, at = "2026-03-23 12:00" }
  end,
}

test "the customer reads it in Arabic or Persian, in their own calendar" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-19 16:00"
    t.ticket { subject = "الفاتورة", customer_email = "ahmed@example.com", customer_name = "أحمد",
               customer_locale = "ar-SA", customer_tz = "Asia/Riyadh" }
    t.ticket { subject = "اینترنت", customer_email = "maryam@example.com", customer_name = "مریم",
               customer_locale = "fa-IR", customer_tz = "Asia/Tehran" }
    t.at "2026-03-19 16:01"
    t.expect_mail { to = "ahmed@example.com", subject = "وصلنا طلبك 1", locale = "ar",
                    vars = { answer_by = "٤ شوال ١٤٤٧ هـ، ١:٠٠ م" } }   -- 4 Shawwal, Riyadh time
    t.expect_mail { to = "maryam@example.com", subject = "درخواست 2 شما به دست ما رسید",
                    locale = "fa", vars = { answer_by = "۳ فروردین ۱۴۰۵، ۱۳:۳۰" } }  -- 3 Farvardin, Tehran
  end,
}

test "no acknowledgement for a ticket answered within the minute" {
  zone = "Africa/Cairo",
  function(t)
    t.at "2026-03-08 10:00"
    local tk = t.ticket { customer_email = "quick@example.com" }
    t.at "2026-03-08 10:00:30"
    t.reply(tk)
    t.at "2026-03-08 12:00"
    t.expect_no_mail { to = "quick@example.com" }
    t.expect { event = "met", rule = "answer-as-promised", ticket = tk }
  end,
}
