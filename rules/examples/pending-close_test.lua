-- Tests for pending-close.lua.  Subjects come from the templates in
-- [mail] templates (rules/templates/).

test "three reminders three days apart, then closed with a polite note" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { subject = "Refund", customer_email = "sara@example.com",
                          customer_name = "Sara", customer_locale = "ar-EG" }
    t.reply(tk, { status = "pending" })
    for n, day in ipairs({ "2026-03-05 10:00", "2026-03-08 10:00", "2026-03-11 10:00" }) do
      t.at(day)
      t.expect_mail { to = "sara@example.com", template = "pending-reminder", at = day,
                      vars = { reminder = tostring(n) }, body = t.contains "مرحبًا Sara" }
      t.expect_no_action()
    end
    t.at "2026-03-14 10:00"
    t.expect_no_mail()
    t.expect_action { ticket = { status = "solved" }, ticket_id = tk }
    t.expect_action { ticket = { note = t.contains "لم يصلنا ردّك", internal = "false" } }
    t.expect_action { ticket = { tags = { "closed-no-answer" } } }
    t.wait "30d"
    t.expect_no_mail()
    t.expect_no_action()
  end,
}

test "in Persian, and English when the locale is not known" {
  function(t)
    t.at "2026-03-02 10:00"
    local fa = t.ticket { customer_email = "maryam@example.com", customer_locale = "fa-IR" }
    local en = t.ticket { customer_email = "john@example.com" }
    t.reply(fa, { status = "pending" })
    t.reply(en, { status = "pending" })
    t.at "2026-03-14 10:00"
    t.expect_action { ticket_id = fa, ticket = { note = t.contains "پاسخی از شما دریافت نکردیم" } }
    t.expect_action { ticket_id = en, ticket = { note = t.contains "We have not heard back" } }
  end,
}

test "an answer from the customer stops the reminders and the close" {
  function(t)
    t.at "2026-03-02 10:00"
    local tk = t.ticket { customer_email = "sara@example.com" }
    t.reply(tk, { status = "pending" })
    t.at "2026-03-05 10:00"
    t.expect_mail { to = "sara@example.com", template = "pending-reminder" }
    t.at "2026-03-06 09:00"
    t.customer_reply(tk)
    t.wait "20d"
    t.expect_no_mail()
    t.expect_no_action()
  end,
}
