-- Tests for loyal-customers.lua.

test "a gold customer is answered within two hours" {
  function(t)
    t.at "2026-03-05 09:00"
    local gold = t.ticket { subject = "Order missing", customer_name = "Nadia",
                            owner_email = "omar@example.com", extra = { tier = "gold" } }
    local other = t.ticket { subject = "Question", owner_email = "omar@example.com" }
    t.at "2026-03-05 10:00"
    t.expect_mail { to = "omar@example.com",
                    subject = "Loyal customer waiting: #1 Order missing (Nadia)" }
    t.at "2026-03-05 11:00"
    t.expect { event = "breach", rule = "loyal-first-reply", ticket = gold }
    t.expect_mail { to = "support-lead@example.com",
                    subject = "Loyal customer not answered in 2 hours: #1 Order missing" }
    t.expect_not { rule = "loyal-first-reply", ticket = other }
  end,
}

test "ten orders make a customer loyal too; an answer in time ends it" {
  function(t)
    t.at "2026-03-05 09:00"
    local tk = t.ticket { extra = { orders = 12 }, owner_email = "omar@example.com" }
    t.wait "50m"
    t.reply(tk)
    t.expect { event = "met", rule = "loyal-first-reply" }
    t.wait "1d"
    t.expect_no_mail()
  end,
}

test "a year with us, three cases solved, none open: thanked once a year" {
  function(t)
    t.at "2026-03-05 09:00"
    for i, day in ipairs({ "2025-01-10", "2025-06-02", "2026-01-15" }) do
      t.ticket { customer_email = "nadia@example.com", customer_name = "Nadia",
                 created_at = day .. " 09:00", status = "solved", solved_at = day .. " 15:00" }
    end
    t.ticket { customer_email = "new@example.com", created_at = "2026-02-01 09:00",
               status = "solved", solved_at = "2026-02-01 12:00" }
    t.wait "1h"
    t.expect_mail { to = "nadia@example.com", template = "thank-you-offer",
                    subject = "Thank you for another year with us, Nadia",
                    vars = { offer_url = "https://shop.example.com/loyal",
                             offer_code = t.matches "^LOYAL%-%d+$",
                             offer_expiry = "Apr 4, 2026" } }      -- thirty days to use it
    t.expect_no_mail { to = "new@example.com" }
    t.wait "200d"
    t.expect_no_mail { template = "thank-you-offer" }
    t.wait "165d"
    t.expect_mail { to = "nadia@example.com", template = "thank-you-offer" }
  end,
}

test "no thank-you while a case is open or soon after a broken SLA" {
  function(t)
    t.at "2026-03-05 09:00"
    for _, who in ipairs({ "open@example.com", "breach@example.com" }) do
      for _, day in ipairs({ "2024-05-01", "2024-09-01", "2025-02-01" }) do
        t.ticket { customer_email = who, created_at = day .. " 09:00", status = "solved",
                   solved_at = day .. " 10:00" }
      end
    end
    local open = t.ticket { customer_email = "open@example.com", status = "pending" }
    local late = t.ticket { customer_email = "breach@example.com", extra = { tier = "gold" } }
    t.wait "2h"                                  -- the gold ticket breaches
    t.expect { event = "breach", rule = "loyal-first-reply", ticket = late }
    t.solve(late)
    t.solve(open)
    t.wait "1h"
    t.expect_mail { to = "open@example.com", template = "thank-you-offer" }
    t.expect_no_mail { to = "breach@example.com", template = "thank-you-offer" }
    t.wait "91d"
    t.expect_mail { to = "breach@example.com", template = "thank-you-offer" }
  end,
}
