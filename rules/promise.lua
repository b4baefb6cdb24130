-- wafa.promise_in(text, t [, opts]): the instant an agent's reply promises the
-- customer, as integer Unix seconds, or nil when the text promises nothing.
-- wafa.promise_pattern(lua_pattern, fn): a manager's own phrasing.
--
-- This chunk runs once, trusted, when the rules host starts; it receives the
-- table to fill (rule files see it as the global `wafa`) and wafa's C helpers
-- (c.local_time, c.utc, c.now).  Its functions run inside rule callbacks, so
-- under the sandbox's budget and pattern guard.
--
--   promise "said" { at = function(t) return wafa.promise_in(t.last_agent_body, t) end, ... }
--
-- Inputs
--   t.customer_tz, t.customer_locale ("ar-EG", "fa-IR", "en"), t.last_agent_at
--   opts.now         the reference instant; else t.last_agent_at; else c.now()
--   opts.tz          the zone when t.customer_tz is missing or unknown; else "UTC"
--   opts.end_of_day  "HH:MM", default "17:00": what a promise without a time
--                    means ("tomorrow" = tomorrow at end_of_day, local)
--   opts.week_end    the last working day of the week ("thursday", "fri", 5 ..)
--   opts.weekend     the days off, a list like { "fri", "sat" }
-- Only the first 4096 bytes of text are read; quoted history ("> " lines and
-- what follows "... wrote:", "-----Original Message-----") is ignored.
--
-- What the phrases mean (all local times in the zone above)
--   within / in N minutes, hours      the reference + N x 60 / 3600 s exactly
--   within / in N days, weeks         the same wall-clock time N (x 7) calendar
--                                     days later (so "2 days" across a DST
--                                     change is 47 or 49 hours; "48 hours" is 48)
--   within N business/working days    end_of_day of the Nth working day after today
--   "24-48 hours", "2 to 3 days",     the upper bound
--   "allow 3-5 business days"
--   today, end of day, EOD            today at end_of_day; if that has passed,
--                                     midnight at the end of today
--   tonight / this evening            today 21:00;  this morning: today 12:00
--   tomorrow                          tomorrow at end_of_day (morning: 12:00,
--                                     noon 12:00, afternoon end_of_day, evening 21:00)
--   day after tomorrow                in 2 days at end_of_day
--   by Monday / on Monday / Monday    the coming Monday at end_of_day; said on a
--                                     Monday that is the Monday a week later
--                                     ("this Monday" said on a Monday is today)
--   next Tuesday                      a Tuesday of next week: said on a Monday,
--                                     not tomorrow but a week later; said on a
--                                     Friday, the coming one ("this coming
--                                     Tuesday", "الثلاثاء القادم", "سه‌شنبه آینده":
--                                     the coming one)
--   before Monday / before tomorrow   the start (00:00) of that day ("before the
--                                     end of Monday": Monday at end_of_day)
--   by Friday 3pm, 3pm tomorrow       that day at that time
--   end of day Friday, COB tomorrow   that day at end_of_day
--   by 3pm, at 15:00                  today, or tomorrow if the time has passed;
--                                     an hour from 1 to 7 without am/pm is
--                                     taken as afternoon (at 3 = 15:00)
--   end of the week / this week       the last working day of this week at
--                                     end_of_day: Friday where the weekend is
--                                     Saturday-Sunday, Thursday where it is
--                                     Friday(-Saturday).  Which: opts.week_end, else the
--                                     region of t.customer_locale (EG SA KW QA BH OM
--                                     YE IQ JO SY SD LY DZ PS: Thursday, Fri-Sat off;
--                                     IR AF: Thursday, Friday off; any other region:
--                                     Friday, Sat-Sun off), else the language of the
--                                     phrase (en Friday; ar and fa Thursday)
--   next week                         the last working day of next week (from a
--                                     weekend day: of the coming week)
--   end of the month                  the month's last day at end_of_day
--   next business day                 end_of_day of the next working day
-- Vague words ("soon", "shortly", "ASAP", "in a few days", "within hours") are
-- no instant: nil.  Calendar dates ("by January 20", "۲۵ دی") are not read
-- (a custom pattern can).
--
-- When a phrase counts
--   Sentences split at . ! ? ; and blank lines; clauses also at commas and at
--   "but"-words (but, however, لكن, ولكن, اما, ولی ...).  In a clause with a
--   negation (not, won't, cannot, never, لن, لا, لم, ليس, مش, نمی..., نخواهیم ...)
--   or a request to the customer (please, kindly, could you, يرجى, الرجاء, لطفا ...)
--   nothing counts.  A past marker (was, lasted, took, yesterday, كان, استمر,
--   أمس, دیروز, طول کشید ...) without a future one (will, 'll, expect, سوف, سـ-verbs
--   like سنرسل/سيتم, خواهیم, می‌-verbs ...) voids the clause too.  "by", "within",
--   "before", "no later than", "tomorrow", "next Monday", "خلال", "بحلول", "قبل",
--   "غدا", "تا", "ظرف" ... count on their own; weak ones ("today", "on Monday",
--   a bare weekday, "in 3 hours", "until", "يوم الأحد", "امروز" ...) only with a
--   future marker in the clause ("We'll call you on Monday", not "We spoke on
--   Monday").  A duration followed by a past word ("in the last 24 hours",
--   "خلال الـ24 ساعة الماضية", "ظرف ۲۴ ساعت گذشته") is no promise.
--
-- Several promises: the earliest instant wins (the first one that can be
-- broken).  Instants not after the reference are dropped.
--
-- Text is normalised before matching: ASCII lower case; Arabic-Indic and
-- Persian digits to ASCII; ی ى ئ -> ي, ک -> ك, أ إ آ ٱ -> ا, ة ۀ -> ه, ؤ -> و;
-- tatweel, harakat (tanween, shadda ...), ZWNJ and direction marks removed;
-- ، ؛ ؟ to , ; ?; "a.m."/"p.m." to am/pm; "n't" to " not", "'ll" to " will".
--
-- Custom patterns: wafa.promise_pattern(pattern, fn), called from a rule file.
--   The pattern is a Lua pattern over the normalised text of one sentence (so
--   write lower-case words; its Arabic/Persian letters and digits are
--   normalised the same way when it is registered).  The sandbox refuses
--   costly patterns, so at most 3 of '*', '+', '-' per pattern, and a sentence
--   is matched in windows of 200 bytes (a phrase of up to 100 bytes is always
--   whole in one window).  fn(ctx, captures...) (the whole match when the
--   pattern has no captures) returns seconds, nil (no opinion: carry on) or
--   false (this sentence promises nothing: a veto).  Custom patterns are
--   tried first, in the order registered; the first to return seconds (the
--   earliest of its matches in the sentence) or false decides the sentence,
--   and the built-in phrases are not tried on it.  Registering again from the
--   same line replaces the function.
--   ctx: now, tz, local_time ({year, month, day, hour, min, sec, wday}),
--   end_of_day, ticket, sentence, negated (the sentence has a negation), and
--   the helpers at(days_ahead [, "HH:MM"]) (that day at that time, default
--   end_of_day), after(seconds), weekday(day [, "HH:MM"]) (day: 1 = Sunday
--   .. 7, or a name such as "friday", "الجمعة", "جمعه"), business_days(n),
--   end_of_week().
--
--     wafa.promise_pattern("asap", function(ctx) return ctx.after(4 * 3600) end)
--     wafa.promise_pattern("by the (%d+)%a%a", function(ctx, d)    -- "by the 20th"
--       local days = tonumber(d) - ctx.local_time.day
--       if days > 0 then return ctx.at(days) end
--     end)
--     wafa.promise_pattern("tomorrow is a %a* ?holiday", function() return false end)
--
-- Cost: about 0.15 ms for a 1 KB reply.  Words, tokens and each zone's UTC
-- offset per day are remembered between calls (bounded), since c.local_time
-- and c.utc look the zone up on every call.

local wafa, c = ...

local byte, sub, find, gsub, gmatch, lower, upper, format =
  string.byte, string.sub, string.find, string.gsub, string.gmatch, string.lower,
  string.upper, string.format
local ulen, uchar = utf8.len, utf8.char
local floor, ceil = math.floor, math.ceil
local tointeger = math.tointeger
local type, tonumber, tostring, error, ipairs, pairs, pcall, select =
  type, tonumber, tostring, error, ipairs, pairs, pcall, select
local pack, unpack, sort = table.pack, table.unpack, table.sort

local MAX_TEXT = 4096
local WINDOW = 200
local MAX_CUSTOM_Q = 3
local EMPTY = {}

---------------------------------------------------------------------------
-- Normalisation
---------------------------------------------------------------------------

local CHARS = {}
for i = 0, 9 do
  CHARS[uchar(0x660 + i)] = tostring(i) -- Arabic-Indic
  CHARS[uchar(0x6F0 + i)] = tostring(i) -- Persian
end
for _, cp in ipairs { 0x6CC, 0x649, 0x626, 0x6D2 } do CHARS[uchar(cp)] = uchar(0x64A) end
CHARS[uchar(0x6A9)] = uchar(0x643)
for _, cp in ipairs { 0x622, 0x623, 0x625, 0x671, 0x672, 0x673 } do CHARS[uchar(cp)] = uchar(0x627) end
for _, cp in ipairs { 0x629, 0x6C0, 0x6D5 } do CHARS[uchar(cp)] = uchar(0x647) end
CHARS[uchar(0x624)] = uchar(0x648)
CHARS[uchar(0x640)] = "" -- tatweel
for cp = 0x64B, 0x65F do CHARS[uchar(cp)] = "" end -- harakat
CHARS[uchar(0x670)] = ""
for _, cp in ipairs { 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x61C, 0xFEFF, 0x202A, 0x202B,
  0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069 } do
  CHARS[uchar(cp)] = ""
end
for _, cp in ipairs { 0xA0, 0x2009, 0x202F, 0x2002, 0x2003 } do CHARS[uchar(cp)] = " " end
CHARS[uchar(0x2018)], CHARS[uchar(0x2019)] = "'", "'"
CHARS[uchar(0x201C)], CHARS[uchar(0x201D)], CHARS[uchar(0xAB)], CHARS[uchar(0xBB)] = '"', '"', '"', '"'
CHARS[uchar(0x2013)], CHARS[uchar(0x2014)], CHARS[uchar(0x2212)] = "-", "-", "-"
CHARS[uchar(0x60C)], CHARS[uchar(0x61B)], CHARS[uchar(0x61F)] = ",", ";", "?"
CHARS[uchar(0x66B)], CHARS[uchar(0x66C)], CHARS[uchar(0x6D4)] = ".", "", "."

-- Letters and digits only: what a pattern gets too (case kept).
local function fold(s)
  return (gsub(s, "[\xC2-\xF4][\x80-\xBF]*", CHARS))
end

local function normalize(s)
  return fold(lower(s))
end

---------------------------------------------------------------------------
-- The lexicon: words and phrases, each to an entry; a phrase of several
-- words is matched longest first.
--   k = day (d days ahead [h]), eod, wd (w 1 Sunday .. 7), week (which =
--   this|next), month, bizday, num (n), article, unit (u = m|h|d|w; plural;
--   n for a dual; clock when it also means "o'clock"; dayword), biz, trig
--   (date, dur = "strong"|"weak"; before; range), mod (this|next), after,
--   ago, tod (ampm, h | eod), at, range, skip, brk, word.
--   Flags on any entry: neg, fut, past, req.
---------------------------------------------------------------------------

local LEX, MULTI = {}, {}

local function def(entry, lang, ...)
  entry.lang = lang
  for i = 1, select("#", ...) do
    local words = {}
    for w in gmatch(normalize((select(i, ...))), "%S+") do words[#words + 1] = w end
    if #words == 1 then
      LEX[words[1]] = entry
    else
      local list = MULTI[words[1]] or {}
      MULTI[words[1]] = list
      list[#list + 1] = { words = words, entry = entry }
    end
  end
end

local STRONG, WEAK = "strong", "weak"

-- English
def({ k = "day", d = 0 }, "en", "today")
def({ k = "day", d = 0, h = 21 }, "en", "tonight", "this evening")
def({ k = "day", d = 0, h = 12 }, "en", "this morning")
def({ k = "day", d = 0, h = 12, m = 0 }, "en", "this noon")
def({ k = "day", d = 0, eodtod = true }, "en", "this afternoon")
def({ k = "day", d = 1, strong = true }, "en", "tomorrow", "tmrw", "tmr", "tomorow", "tommorow",
  "tommorrow", "2morrow")
def({ k = "day", d = 2, strong = true }, "en", "day after tomorrow")
def({ k = "eod" }, "en", "end of day", "end of business", "close of business",
  "end of business day", "end of working day", "end of play", "end of your day")
def({ k = "eod", strong = true }, "en", "eod", "cob", "eob", "later today", "end of today")
for w, names in ipairs { { "sunday", "sun" }, { "monday", "mon" }, { "tuesday", "tue", "tues" },
  { "wednesday", "wed" }, { "thursday", "thu", "thur", "thurs" }, { "friday", "fri" },
  { "saturday", "sat" } } do
  def({ k = "wd", w = w }, "en", unpack(names))
end
def({ k = "week", which = "this", strong = true }, "en", "end of week", "end of this week", "eow",
  "end of your week")
def({ k = "week", which = "this" }, "en", "this week", "weekend", "this weekend")
def({ k = "week", which = "next" }, "en", "next week", "following week", "coming week")
def({ k = "week", which = "next", strong = true }, "en", "end of next week")
def({ k = "month", strong = true }, "en", "end of month", "end of this month", "eom")
def({ k = "month" }, "en", "this month")
def({ k = "bizday", strong = true }, "en", "next business day", "next working day")
def({ k = "mod", mod = "this" }, "en", "this")
def({ k = "mod", mod = "next" }, "en", "next")
def({ k = "mod", mod = "coming" }, "en", "coming", "this coming")
def({ k = "eod", needs_date = true }, "en", "end of")
for n, w in ipairs { "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
  "eleven", "twelve" } do
  def({ k = "num", n = n }, "en", w)
end
def({ k = "num", n = 24 }, "en", "twenty-four", "twenty four")
def({ k = "num", n = 48 }, "en", "forty-eight", "forty eight")
def({ k = "num", n = 2 }, "en", "couple of", "couple")
def({ k = "num", n = 0.5 }, "en", "half an", "half a")
def({ k = "article" }, "en", "a", "an")
def({ k = "unit", u = "m" }, "en", "minute", "min")
def({ k = "unit", u = "m", plural = true }, "en", "minutes", "mins")
def({ k = "unit", u = "h" }, "en", "hour", "hr", "h")
def({ k = "unit", u = "h", plural = true }, "en", "hours", "hrs")
def({ k = "unit", u = "d" }, "en", "day")
def({ k = "unit", u = "d", plural = true }, "en", "days")
def({ k = "unit", u = "w" }, "en", "week", "wk")
def({ k = "unit", u = "w", plural = true }, "en", "weeks", "wks")
def({ k = "biz" }, "en", "business", "working", "work")
def({ k = "trig", date = STRONG }, "en", "by", "latest by")
def({ k = "trig", date = STRONG, before = true }, "en", "before")
def({ k = "trig", date = STRONG, dur = STRONG }, "en", "no later than", "not later than")
def({ k = "trig", date = WEAK }, "en", "until", "till", "til", "untill", "on", "for")
def({ k = "trig", dur = STRONG }, "en", "within", "inside of", "up to", "over next", "over coming",
  "allow", "please allow", "kindly allow")
def({ k = "trig", dur = WEAK, intod = true }, "en", "in")
def({ k = "after" }, "en", "from now")
def({ k = "ago", past = true }, "en", "ago", "past", "last", "previous", "earlier")
def({ k = "tod", ampm = "am", h = 12 }, "en", "morning")
def({ k = "tod", ampm = "pm", h = 12 }, "en", "noon", "midday")
def({ k = "tod", ampm = "pm", eod = true }, "en", "afternoon")
def({ k = "tod", ampm = "pm", h = 21 }, "en", "evening", "night")
def({ k = "tod", h = 24 }, "en", "midnight")
def({ k = "tod", ampm = "am" }, "en", "am")
def({ k = "tod", ampm = "pm" }, "en", "pm")
def({ k = "at" }, "en", "at", "@", "around")
def({ k = "range" }, nil, "-", "to", "or", "~")
def({ k = "word", neg = true }, "en", "not", "never", "cannot", "unable", "impossible", "neither",
  "nor", "no longer")
def({ k = "skip" }, "en", "not hesitate", "not worry", "please note", "please be", "please rest",
  "kindly note", "kindly be")
def({ k = "word", fut = true }, "en", "will", "shall", "gonna", "going", "expect", "expected",
  "expecting", "should", "aim", "aiming", "plan", "planning", "planned", "scheduled", "eta",
  "hope", "hoping", "promise", "please expect")
def({ k = "word", past = true }, "en", "was", "were", "had", "did", "lasted", "took", "yesterday",
  "been", "previously")
def({ k = "word", req = true }, "en", "please", "pls", "plz", "kindly", "could you", "can you",
  "would you", "let us know", "let me know", "make sure")
def({ k = "brk" }, "en", "but", "however", "although", "though", "whereas")

-- Arabic
def({ k = "day", d = 0 }, "ar", "اليوم")
def({ k = "day", d = 0, h = 21 }, "ar", "الليلة", "هذه الليلة", "هذا المساء")
def({ k = "eod", strong = true }, "ar", "لاحقا اليوم", "في وقت لاحق اليوم", "وقت لاحق اليوم")
def({ k = "day", d = 1, strong = true }, "ar", "غدا", "غد", "الغد", "بكرة", "بكرا", "باكر",
  "اليوم التالي", "في اليوم التالي")
def({ k = "day", d = 2, strong = true }, "ar", "بعد غد", "بعد الغد", "بعد بكرة", "بعد بكرا")
def({ k = "eod", needs_date = true }, "ar", "نهاية")
def({ k = "eod" }, "ar", "نهاية اليوم", "آخر اليوم", "نهاية الدوام", "نهاية يوم العمل",
  "انتهاء الدوام", "نهاية دوام اليوم", "آخر النهار")
for w, names in ipairs { { "الأحد" }, { "الاثنين", "الإثنين", "الاتنين" },
  { "الثلاثاء", "الثلاثا", "التلات" }, { "الأربعاء", "الاربع" }, { "الخميس" }, { "الجمعة" },
  { "السبت" } } do
  def({ k = "wd", w = w }, "ar", unpack(names))
end
def({ k = "week", which = "this", strong = true }, "ar", "نهاية الأسبوع", "آخر الأسبوع",
  "نهاية هذا الأسبوع", "آخر هذا الأسبوع", "نهاية الأسبوع الحالي", "نهاية الأسبوع الجاري")
def({ k = "week", which = "this" }, "ar", "هذا الأسبوع", "الأسبوع", "الأسبوع الحالي",
  "الأسبوع الجاري")
def({ k = "week", which = "next" }, "ar", "الأسبوع القادم", "الأسبوع المقبل")
def({ k = "week", which = "next", strong = true }, "ar", "نهاية الأسبوع القادم",
  "نهاية الأسبوع المقبل")
def({ k = "month", strong = true }, "ar", "نهاية الشهر", "آخر الشهر", "نهاية هذا الشهر")
def({ k = "month" }, "ar", "هذا الشهر")
def({ k = "bizday", strong = true }, "ar", "يوم العمل التالي", "يوم العمل القادم")
for n, names in ipairs { { "واحد", "واحدة" }, { "اثنين", "اثنان" }, { "ثلاث", "ثلاثة" },
  { "أربع", "أربعة" }, { "خمس", "خمسة" }, { "ست", "ستة" }, { "سبع", "سبعة" },
  { "ثمان", "ثماني", "ثمانية" }, { "تسع", "تسعة" }, { "عشر", "عشرة" } } do
  def({ k = "num", n = n }, "ar", unpack(names))
end
def({ k = "num", n = 0.5 }, "ar", "نصف")
def({ k = "unit", u = "h" }, "ar", "ساعة")
def({ k = "unit", u = "h", clock = true }, "ar", "الساعة")
def({ k = "unit", u = "h", plural = true }, "ar", "ساعات", "الساعات")
def({ k = "unit", u = "h", n = 2 }, "ar", "ساعتين", "ساعتان", "الساعتين")
def({ k = "unit", u = "m" }, "ar", "دقيقة")
def({ k = "unit", u = "m", plural = true }, "ar", "دقائق", "الدقائق")
def({ k = "unit", u = "m", n = 2 }, "ar", "دقيقتين", "دقيقتان")
def({ k = "unit", u = "d", dayword = true }, "ar", "يوم")
def({ k = "unit", u = "d", plural = true }, "ar", "أيام", "الأيام")
def({ k = "unit", u = "d", n = 2 }, "ar", "يومين", "يومان", "يومي", "اليومين")
def({ k = "unit", u = "w" }, "ar", "أسبوع")
def({ k = "unit", u = "w", plural = true }, "ar", "أسابيع")
def({ k = "unit", u = "w", n = 2 }, "ar", "أسبوعين", "أسبوعان", "الأسبوعين")
def({ k = "biz" }, "ar", "عمل", "العمل")
def({ k = "trig", date = STRONG, dur = STRONG }, "ar", "خلال", "في خلال", "بحد أقصى", "كحد أقصى",
  "موعد أقصاه", "في موعد أقصاه", "أقصاه", "لا يتجاوز", "لا تتجاوز", "في موعد لا يتجاوز")
-- بعد: Arabic "after" (بعد ساعتين) and Persian "later" (۲ روز بعد)
def({ k = "trig", dur = STRONG, upcoming = true }, "ar", "بعد")
def({ k = "trig", dur = STRONG }, "ar", "غضون", "في غضون")
def({ k = "trig", date = STRONG }, "ar", "بحلول", "مع")
-- قبل: Arabic "before"; Persian "ago" after a duration (۲ روز قبل)
def({ k = "trig", date = STRONG, before = true, ago = true }, "ar", "قبل")
def({ k = "trig", date = WEAK }, "ar", "حتى", "في")
def({ k = "after" }, "ar", "القادم", "القادمة", "المقبل", "المقبلة", "القادمين", "المقبلين",
  "من الآن")
def({ k = "ago", past = true }, "ar", "الماضي", "الماضية", "الماضيين", "السابق", "السابقة",
  "الأخير", "الأخيرة", "الأخيرين", "منذ")
def({ k = "tod", ampm = "am", h = 12 }, "ar", "صباح", "صباحا", "الصباح")
def({ k = "tod", ampm = "pm", h = 12 }, "ar", "ظهر", "ظهرا", "الظهر")
def({ k = "tod", ampm = "pm", eod = true }, "ar", "عصر", "عصرا", "العصر")
def({ k = "tod", ampm = "pm", h = 21 }, "ar", "مساء", "مساءا", "المساء", "ليلا")
def({ k = "at" }, "ar", "عند", "حوالي", "في تمام", "تمام")
def({ k = "range" }, "ar", "إلى", "أو")
def({ k = "word", neg = true }, "ar", "لن", "لا", "لم", "ليس", "ليست", "لسنا", "مش", "مو", "غير",
  "عدم", "يتعذر", "يستحيل")
def({ k = "skip" }, "ar", "عطلة نهاية الأسبوع", "لا تتردد", "لا تترددوا", "لا تترددي",
  "يرجى العلم", "يرجى ملاحظة", "يرجى الانتظار", "نرجو الانتظار", "نرجو العلم")
def({ k = "word", fut = true }, "ar", "سوف", "سيتم", "رح", "راح", "حتما", "إن شاء الله",
  "إنشاء الله", "انشالله", "بإذن الله", "نعدك", "نعدكم", "نتوقع", "متوقع", "المتوقع", "نأمل",
  "موعد")
def({ k = "word", past = true }, "ar", "أمس", "البارحة", "كان", "كانت", "كنا", "كنت", "استمر",
  "استمرت", "استغرق", "استغرقت", "مضى", "مضت")
def({ k = "word", req = true }, "ar", "يرجى", "الرجاء", "رجاء", "نرجو", "برجاء", "من فضلك",
  "من فضلكم")
def({ k = "brk" }, "ar", "لكن", "ولكن", "بينما", "إلا أن")

-- Persian
def({ k = "day", d = 0 }, "fa", "امروز", "همین امروز")
def({ k = "day", d = 0, h = 21 }, "fa", "امشب")
def({ k = "day", d = 1, strong = true }, "fa", "فردا")
def({ k = "day", d = 2, strong = true }, "fa", "پس فردا", "پس‌فردا")
def({ k = "eod", needs_date = true }, "fa", "پایان")
def({ k = "eod" }, "fa", "پایان روز", "آخر روز", "پایان وقت اداری", "پایان ساعت کاری",
  "آخر وقت", "پایان وقت")
def({ k = "eod", strong = true }, "fa", "پایان امروز", "آخر امروز", "آخر وقت امروز",
  "پایان وقت امروز")
for w, names in ipairs { { "یکشنبه", "یک شنبه" }, { "دوشنبه", "دو شنبه" },
  { "سه‌شنبه", "سه شنبه" }, { "چهارشنبه", "چهار شنبه" }, { "پنجشنبه", "پنج شنبه" },
  { "جمعه" }, { "شنبه" } } do
  def({ k = "wd", w = w }, "fa", unpack(names))
end
def({ k = "week", which = "this", strong = true }, "fa", "پایان هفته", "آخر هفته",
  "پایان این هفته", "آخر این هفته", "پایان هفته جاری", "آخر هفته جاری", "پایان هفته‌ی جاری")
def({ k = "week", which = "this" }, "fa", "این هفته", "هفته جاری")
def({ k = "week", which = "next" }, "fa", "هفته بعد", "هفته آینده", "هفته دیگر")
def({ k = "week", which = "next", strong = true }, "fa", "پایان هفته آینده", "آخر هفته آینده",
  "پایان هفته بعد", "آخر هفته بعد")
def({ k = "month", strong = true }, "fa", "پایان ماه", "آخر ماه", "پایان این ماه", "آخر این ماه")
def({ k = "month" }, "fa", "این ماه")
def({ k = "bizday", strong = true }, "fa", "روز کاری بعد", "اولین روز کاری")
for n, names in ipairs { { "یک", "یه" }, { "دو" }, { "سه" }, { "چهار" }, { "پنج" }, { "شش" },
  { "هفت" }, { "هشت" }, {}, { "ده" } } do
  if names[1] then def({ k = "num", n = n }, "fa", unpack(names)) end
end
def({ k = "num", n = 0.5 }, "fa", "نیم")
def({ k = "unit", u = "h", clock = true }, "fa", "ساعت")
def({ k = "unit", u = "h", plural = true }, "fa", "ساعت‌ها")
def({ k = "unit", u = "m" }, "fa", "دقیقه")
def({ k = "unit", u = "d", dayword = true }, "fa", "روز")
def({ k = "unit", u = "d", plural = true }, "fa", "روزها", "روز‌های", "روزهای")
def({ k = "unit", u = "w" }, "fa", "هفته")
def({ k = "biz" }, "fa", "کاری")
def({ k = "trig", date = STRONG, dur = STRONG, range = true }, "fa", "تا")
def({ k = "trig", dur = STRONG }, "fa", "ظرف", "طی", "در عرض", "عرض", "در ظرف", "در طی",
  "بعد از")
def({ k = "trig", date = STRONG, dur = STRONG }, "fa", "حداکثر", "حداکثر تا", "نهایتا")
def({ k = "trig", date = STRONG, before = true }, "fa", "قبل از", "پیش از", "تا قبل از")
def({ k = "trig", date = WEAK }, "fa", "برای")
def({ k = "after" }, "fa", "دیگر", "دیگه", "آینده")
def({ k = "ago", past = true }, "fa", "پیش", "گذشته", "اخیر")
def({ k = "tod", ampm = "am", h = 12 }, "fa", "صبح")
def({ k = "tod", ampm = "pm", eod = true }, "fa", "بعد از ظهر", "بعدازظهر")
def({ k = "tod", ampm = "pm", h = 21 }, "fa", "شب")
def({ k = "at" }, "fa", "حدود", "سر")
def({ k = "range" }, "fa", "یا")
def({ k = "word", neg = true }, "fa", "هرگز", "نیست", "نیستیم", "نیستند")
def({ k = "skip" }, "fa", "مدت", "لطفا توجه", "لطفا صبر", "لطفا منتظر")
def({ k = "word", fut = true }, "fa", "می", "قرار", "انشالله")
def({ k = "word", past = true }, "fa", "دیروز", "بود", "بودم", "بودیم", "بودند", "کشید", "کردم",
  "کردیم", "شد", "داشتیم")
def({ k = "word", req = true }, "fa", "لطفا")
def({ k = "brk" }, "fa", "اما", "ولی", "ولیکن", "در حالی که")

for _, list in pairs(MULTI) do
  sort(list, function(a, b) return #a.words > #b.words end)
  for _, m in ipairs(list) do
    local e = m.entry
    e.flag = e.neg or e.fut or e.past or e.req
  end
end
for _, e in pairs(LEX) do e.flag = e.neg or e.fut or e.past or e.req end

local DROP = { ["the"] = true, [normalize("ال")] = true, ["'"] = true, ['"'] = true, ["("] = true,
  [")"] = true, ["["] = true, ["]"] = true, ["/"] = true, [":"] = true, ["*"] = true, ["_"] = true,
  ["<"] = true, [">"] = true, ["="] = true, ["#"] = true, ["&"] = true, ["+"] = true, ["%"] = true,
  ["$"] = true, ["^"] = true, ["`"] = true, ["|"] = true, ["{"] = true, ["}"] = true, ["\\"] = true }
local BREAK = { ["."] = true, [","] = true, [";"] = true, ["!"] = true, ["?"] = true,
  ["\1"] = true }
local WORD = { k = "word" }
local NEG = { k = "word", neg = true, flag = true }
local FUT = { k = "word", fut = true, flag = true }
local REQ = { k = "word", req = true, flag = true }

-- Words that begin like an Arabic future verb (سـ + ن/ي/ت/ا) or a Persian
-- present one (می...) but are not.
local function set_of(...)
  local s = {}
  for i = 1, select("#", ...) do s[normalize((select(i, ...)))] = true end
  return s
end
local AR_FUT_NOT = set_of("ساعة", "ساعا", "ساعت", "ساعد", "سياس", "سيار", "سيدي", "سيدة", "سيدت",
  "سنوا", "سنوي", "سنين", "ستين", "ستار", "سابق", "سالم", "سامي", "سارة", "سيرف", "سيست", "سناء",
  "سائق", "سائل", "ساحة", "سنتر", "ستور")
local FA_MI_NOT = set_of("میزا", "میلی", "میلا", "میان", "میوه", "میهم", "میدا", "میرا", "میزب",
  "میکر", "میلگ")

local function starts(s, p) return sub(s, 1, #p) == p end
local AR_W, AR_F, AR_B, AR_L, AR_K = normalize("و"), normalize("ف"), normalize("ب"),
  normalize("ل"), normalize("ك")
local AR_S = normalize("س")
local AR_FUT2 = set_of("ن", "ي", "ت", "ا")
local FA_NEG_PRE = { normalize("نمی"), normalize("نخواه"), normalize("ندار") }
local FA_REQ_PRE, FA_FUT_PRE, FA_MI = normalize("خواهش"), normalize("خواه"), normalize("می")

-- An entry for an Arabic-script word the lexicon does not hold, or nil.
local function guess(w)
  for _, p in ipairs(FA_NEG_PRE) do
    if starts(w, p) then return NEG end
  end
  if starts(w, FA_REQ_PRE) then return REQ end
  if starts(w, FA_FUT_PRE) then return FUT end
  if starts(w, FA_MI) and (ulen(w) or 0) >= 4 and not FA_MI_NOT[sub(w, 1, 8)] then return FUT end
  local v = w
  if starts(v, AR_W) or starts(v, AR_F) then v = sub(v, 3) end
  if starts(v, AR_S) and AR_FUT2[sub(v, 3, 4)] and (ulen(v) or 0) >= 4 and not AR_FUT_NOT[sub(v, 1, 8)] then
    return FUT
  end
  return nil
end

-- The forms of an Arabic word without its clitics: و/ف (and), ب/ل/ك (by, to,
-- like); "ب" before a date means "by".
local function stripped(w, forms)
  local function add(x, by)
    if #x >= 4 then forms[#forms + 1] = { x, by } end
  end
  local base = w
  if starts(w, AR_W) or starts(w, AR_F) then
    base = sub(w, 3)
    add(base, false)
  end
  if starts(base, AR_B) then
    add(sub(base, 3), true)
  elseif starts(base, AR_L) then
    if starts(sub(base, 3), AR_L) then add(normalize("ا") .. sub(base, 3), false) end
    add(sub(base, 3), false)
  elseif starts(base, AR_K) then
    add(sub(base, 3), false)
  end
end

local function number_of(w)
  if find(w, "^%d+$") then
    return { k = "num", n = tonumber(w), int = true }
  end
  if find(w, "^%d+%.%d+$") then
    return { k = "num", n = tonumber(w) }
  end
  local h, m = w:match("^(%d%d?):(%d%d)$")
  if h then
    return { k = "hhmm", h = tonumber(h), m = tonumber(m) }
  end
end

-- What a word is on its own, worked out once per word (a bounded memo):
-- forms, the word and its clitic-less forms to try in the lexicon; multi,
-- whether a phrase may start at one of them; single and by, the entry.
local WORDS, nwords = {}, 0

local function analyse(w)
  local a = WORDS[w]
  if a then return a end
  local forms = { { w, false } }
  local b = byte(w, 1)
  local arabic = b and b >= 0xD8 and b <= 0xDB
  if arabic then stripped(w, forms) end
  a = { forms = forms }
  for _, f in ipairs(forms) do
    if MULTI[f[1]] then a.multi = true end
    if not a.single and LEX[f[1]] then a.single, a.by = LEX[f[1]], f[2] end
  end
  if not a.single then
    if b and b >= 48 and b <= 57 then
      a.single = number_of(w)
    elseif arabic then
      a.single = guess(w)
    end
    a.single = a.single or WORD
  end
  if nwords >= 10000 then WORDS, nwords = {}, 0 end
  WORDS[w], nwords = a, nwords + 1
  return a
end

-- The entry at words[i], the number of words it takes, and the "by" clitic.
local function lookup(words, i)
  local a = analyse(words[i])
  if a.multi then
    for _, f in ipairs(a.forms) do
      local list = MULTI[f[1]]
      if list then
        for _, m in ipairs(list) do
          local mw, ok = m.words, true
          for k = 2, #mw do
            if words[i + k - 1] ~= mw[k] then
              ok = false
              break
            end
          end
          if ok then return m.entry, #mw, f[2] end
        end
      end
      local e = LEX[f[1]]
      if e then return e, 1, f[2] end
    end
  end
  return a.single, 1, a.by
end

---------------------------------------------------------------------------
-- Text to sentences, sentences to words, words to clauses of entries
---------------------------------------------------------------------------

-- Where quoted history starts.  eol: only at the end of a line, cut from
-- the line's start ("On Mon, Jan 13, 2025, Jane <j@x> wrote:").
local CUTS = { { "-----original message-----" }, { "\n________________" }, { "\nfrom:" },
  { "\nsent from my " }, { "wrote:", eol = true }, { normalize("كتب:"), eol = true },
  { normalize("نوشت:"), eol = true } }

-- The text lower-cased, quoted history cut, a blank line as "\1".  Letters
-- and digits are folded token by token (words_of), except for custom
-- patterns, which see whole sentences: then here (whole).
local function prepare(text, whole)
  if #text > MAX_TEXT then
    local n = MAX_TEXT
    while n > 0 do
      local b = byte(text, n + 1)
      if not b or b < 0x80 or b >= 0xC0 then break end
      n = n - 1
    end
    text = sub(text, 1, n)
  end
  -- each pass copies the text: the rare ones only when needed
  text = lower(text)
  if find(text, "\r", 1, true) then text = gsub(text, "\r", "") end
  if byte(text, 1) == 62 or find(text, "\n>", 1, true) then
    text = gsub(gsub(text, "^>[^\n]*", ""), "\n>[^\n]*", "")
  end
  local cut = #text + 1
  for _, m in ipairs(CUTS) do
    local at = find(text, m[1], 1, true)
    while at and at < cut and m.eol do
      local after = at + #m[1]
      if after > #text or find(text, "^[ \t]*\n", after) then
        while at > 1 and byte(text, at - 1) ~= 10 do at = at - 1 end
        break
      end
      at = find(text, m[1], after, true)
    end
    if at and at < cut then cut = at end
  end
  if cut <= #text then text = sub(text, 1, cut - 1) end
  if whole then
    text = fold(text)
    if find(text, ".m", 1, true) then
      text = gsub(text, "%f[%w]([ap])%.m%.", "%1m ")
      text = gsub(text, "%f[%w]([ap])%.m%f[%W]", "%1m")
    end
    if find(text, "'", 1, true) then
      text = gsub(text, "n't%f[%W]", " not")
      text = gsub(text, "'ll%f[%W]", " will")
    end
  end
  if find(text, "\n", 1, true) then text = gsub(text, "\n[ \t]*\n", " \1 ") end
  return text
end

-- Sentences, for custom patterns: split at . ! ? ; and blank lines.
local function sentences_of(text)
  text = gsub(text, "([%.!%?;])%s", "%1\1")
  local list = {}
  for s in gmatch(text, "[^\1]+") do
    s = gsub(s, "%s+", " ")
    if find(s, "%S") then list[#list + 1] = s end
  end
  return list
end

-- The words of one whitespace-separated token: folded, contractions
-- expanded, digits apart from letters ("24h", "3pm"), punctuation apart
-- except a decimal point or a colon between digits ("1.5", "15:00").
-- Worked out once per token (a bounded memo).
local TOKENS, ntokens = {}, 0

local function split_token(tok)
  local s = tok
  if find(s, "[\x80-\xF4]") then s = fold(s) end
  if find(s, "'", 1, true) then
    s = gsub(s, "n't%f[%W]", " not")
    s = gsub(s, "'ll%f[%W]", " will")
  end
  if find(s, ".m", 1, true) then
    s = gsub(s, "%f[%w]([ap])%.m%f[%W]%.?", "%1m")
    s = gsub(s, "(%d)([ap])%.m%f[%W]%.?", "%1%2m")
  end
  s = gsub(s, "(%d)%.(%d)", "%1\2%2")
  s = gsub(s, "(%d):(%d)", "%1\3%2")
  s = gsub(s, "(%d)([^%d%s\2\3])", "%1 %2")
  s = gsub(s, "([^%d%s\2\3])(%d)", "%1 %2")
  s = gsub(s, "%p", " %0 ")
  s = gsub(gsub(s, "\2", "."), "\3", ":")
  local words = {}
  for w in gmatch(s, "%S+") do
    if not DROP[w] then words[#words + 1] = w end
  end
  if ntokens >= 10000 then TOKENS, ntokens = {}, 0 end
  TOKENS[tok], ntokens = words, ntokens + 1
  return words
end

local function words_of(s)
  local words, n = {}, 0
  for tok in gmatch(s, "%S+") do
    local list = TOKENS[tok] or split_token(tok)
    for k = 1, #list do
      n = n + 1
      words[n] = list[k]
    end
  end
  return words, n
end

-- Clauses of entries, and whether the sentence has a negation.
local function clauses_of(words, n)
  local clauses, cl = {}, {}
  local negated = false
  local function close()
    if #cl > 0 then clauses[#clauses + 1] = cl end
    cl = {}
  end
  local i = 1
  while i <= n do
    local w = words[i]
    if BREAK[w] then
      close()
      i = i + 1
    else
      local e, used, by
      local a = WORDS[w]
      if a and not a.multi then
        e, used, by = a.single, 1, a.by
      else
        e, used, by = lookup(words, i)
      end
      if e.k == "brk" then
        close()
      elseif e.k ~= "skip" then
        if by and (e.k == "day" or e.k == "eod" or e.k == "week" or e.k == "month" or e.k == "wd") then
          local copy = {}
          for key, v in pairs(e) do copy[key] = v end
          copy.by = true
          e = copy
        end
        if e.flag then
          if e.neg then
            cl.neg = true
            negated = true
          end
          if e.fut then cl.fut = true end
          if e.past then cl.past = true end
          if e.req then cl.req = true end
        end
        cl[#cl + 1] = e
      end
      i = i + used
    end
  end
  close()
  return clauses, negated
end

---------------------------------------------------------------------------
-- The grammar over a clause
---------------------------------------------------------------------------

local DATE_HEAD = { day = true, eod = true, wd = true, week = true, month = true, bizday = true }

-- A time of day at C[i]: { h, m, exact } and the index after it.
local function parse_time(C, i)
  local it, j = C[i], i
  if not it then return nil end
  local nx = C[i + 1]
  local clockword = false
  if nx and (it.k == "at" or (it.k == "unit" and it.clock)) and
    (nx.k == "num" or nx.k == "hhmm" or (nx.k == "tod" and (nx.h or nx.eod))) then
    clockword = it.k ~= "at" or nx.k ~= "tod"
    j, it = i + 1, nx
  elseif nx and it.intod and nx.k == "tod" and (nx.h or nx.eod) then
    j, it = i + 1, nx
  end
  if it.k == "hhmm" or (it.k == "num" and it.int) then
    local h, m = it.h or it.n, it.m or 0
    local ap = C[j + 1]
    if ap and ap.k == "tod" and ap.ampm then
      if h < 1 or h > 12 or m > 59 then return nil end
      if ap.ampm == "pm" and h < 12 then h = h + 12 elseif ap.ampm == "am" and h == 12 then h = 0 end
      return { h = h, m = m, exact = true }, j + 2
    end
    if it.k == "hhmm" or clockword then
      if h > 23 or m > 59 then return nil end
      if h >= 1 and h <= 7 then h = h + 12 end
      return { h = h, m = m, exact = true }, j + 1
    end
    return nil
  end
  if it.k == "tod" and (it.h or it.eod) then
    return { h = it.h, m = 0, eod = it.eod }, j + 1
  end
  return nil
end

-- A date at C[i]: spec, the index after it, strong.
local function parse_date(C, i)
  local it, j = C[i], i
  if not it then return nil end
  local pre
  if it.k == "tod" and (it.h or it.eod) and C[i + 1] and DATE_HEAD[C[i + 1].k] then
    pre, j = it, i + 1 -- صباح الغد, مساء اليوم
    it = C[j]
  end
  local mod
  if it.k == "mod" then
    mod, j = it.mod, j + 1
    it = C[j]
    if not it then return nil end
  end
  if it.k == "unit" and it.dayword and C[j + 1] and C[j + 1].k == "wd" then
    j = j + 1
    it = C[j]
  end
  local spec, strong
  if it.k == "day" then
    if mod then return nil end
    spec, strong = { days = it.d, h = it.h, m = it.m, eod = it.eodtod }, it.strong
  elseif it.k == "eod" then
    -- "close of business Friday", "end of day tomorrow", "نهاية يوم الخميس"
    local k = j + 1
    local nx = C[k]
    if nx and ((nx.k == "trig" and nx.date) or (nx.k == "unit" and nx.dayword)) then
      k = k + 1
      nx = C[k]
    end
    if nx and (nx.k == "wd" or nx.k == "day" or nx.k == "mod") then
      local spec2, j2, strong2 = parse_date(C, k)
      if spec2 and (spec2.wd or spec2.days) then
        if not spec2.exact then spec2.h, spec2.m, spec2.eod = nil, nil, nil end
        spec2.endof = true -- "before the end of Thursday" is not "before Thursday"
        return spec2, j2, strong2 or it.strong or it.by
      end
    end
    if it.needs_date then return nil end
    spec, strong = { days = 0 }, it.strong
  elseif it.k == "wd" then
    spec = { wd = it.w, this = mod == "this", next = mod == "next", lang = it.lang }
    strong = mod == "next" or mod == "coming"
    local nx = C[j + 1]
    if nx and (nx.k == "after" or nx.upcoming) then
      j, strong = j + 1, true
    end
  elseif it.k == "week" then
    spec, strong = { week = it.which, lang = it.lang }, it.strong
  elseif it.k == "month" then
    spec, strong = { month = true }, it.strong
  elseif it.k == "bizday" then
    spec, strong = { biz = 1, lang = it.lang }, it.strong
  else
    return nil
  end
  if it.by then strong = true end
  j = j + 1
  local tm = pre and { h = pre.h, m = 0, eod = pre.eod } or nil
  if not tm then
    local t2, j2 = parse_time(C, j)
    if not t2 and C[j] and (C[j].k == "trig" and C[j].date) then
      t2, j2 = parse_time(C, j + 1) -- tomorrow by 10am
    end
    if t2 then tm, j = t2, j2 end
  end
  if tm then
    spec.h, spec.m, spec.eod, spec.exact = tm.h, tm.m, tm.eod, tm.exact
  end
  return spec, j, strong
end

-- A date, or a time with or without a date after it ("3pm tomorrow", "10am
-- on Monday"), at C[i].
local function parse_when(C, i)
  local tm, j = parse_time(C, i)
  if tm and tm.exact then
    local k = j
    local nx = C[k]
    if nx and ((nx.k == "trig" and nx.date) or (nx.k == "unit" and nx.dayword)) and C[k + 1] and
      DATE_HEAD[C[k + 1].k] then
      k = k + 1
    end
    local spec, j2, strong = parse_date(C, k)
    if spec and not spec.exact then
      spec.h, spec.m, spec.eod, spec.exact = tm.h, tm.m, nil, true
      return spec, j2, strong
    end
    return { clock = true, h = tm.h, m = tm.m, exact = true }, j, false
  end
  return parse_date(C, i)
end

-- A duration at C[i]: spec { n, u, biz, lang }, the index after it, upcoming.
local function parse_dur(C, i)
  local j = i
  local it = C[j]
  while it and it.k == "mod" do
    if it.mod == "this" then return nil end
    j = j + 1
    it = C[j]
  end
  if not it or it.k == "ago" then return nil end
  local n
  if it.k == "num" then
    n, j = it.n, j + 1
    it = C[j]
    if it and (it.k == "range" or it.range) and C[j + 1] and C[j + 1].k == "num" then
      if C[j + 1].n > n then n = C[j + 1].n end
      j = j + 2
      it = C[j]
    end
  elseif it.k == "article" then
    n, j = 1, j + 1
    it = C[j]
    if it and it.k == "num" then
      n, j = it.n, j + 1
      it = C[j]
    end
  end
  local biz, lang
  if it and it.k == "biz" then
    biz, lang, j = true, it.lang, j + 1
    it = C[j]
  end
  if not it or it.k ~= "unit" then return nil end
  if not n then
    if it.n then
      n = it.n
    elseif it.plural then
      return nil -- "within hours": vague
    elseif it.clock and C[j + 1] and (C[j + 1].k == "num" or C[j + 1].k == "hhmm") then
      return nil -- تا ساعت ۳: a time, not a duration
    else
      n = 1
    end
  end
  local u = it.u
  j = j + 1
  it = C[j]
  if it and it.k == "biz" then
    biz, lang, j = true, it.lang, j + 1
    it = C[j]
  end
  if it and (it.k == "ago" or it.ago) then return nil end
  local upcoming = false
  if it and (it.k == "after" or it.upcoming) then
    upcoming, j = true, j + 1
  end
  if n <= 0 then return nil end
  return { n = n, u = u, biz = biz and u == "d", lang = lang }, j, upcoming
end

-- What a phrase can start with.
local STARTS = { trig = true, day = true, eod = true, wd = true, week = true, month = true,
  bizday = true, tod = true, mod = true, unit = true, at = true, num = true, hhmm = true,
  article = true }

-- The promises in a clause: a list of specs.
local function promises_of(C, out)
  if C.neg or C.req or (C.past and not C.fut) then return end
  local i, n = 1, #C
  while i <= n do
    local it = C[i]
    local spec, j, strong
    if not STARTS[it.k] then
      -- a plain word: nothing starts here
    elseif it.k == "trig" then
      local k = i + 1
      local before = it.before
      local dstrong, ustrong = it.date, it.dur
      -- chained triggers: "تا قبل از", "within no later than"
      while C[k] and C[k].k == "trig" do
        before = before or C[k].before
        dstrong = dstrong == STRONG and STRONG or C[k].date or dstrong
        ustrong = ustrong == STRONG and STRONG or C[k].dur or ustrong
        k = k + 1
      end
      if dstrong then
        spec, j, strong = parse_when(C, k)
        if spec then
          strong = strong or dstrong == STRONG
          if before then spec.before = true end
        end
      end
      if not spec and ustrong then
        spec, j = parse_dur(C, k)
        strong = ustrong == STRONG
      end
    else
      spec, j, strong = parse_when(C, i)
      if not spec then
        local up
        spec, j, up = parse_dur(C, i)
        if spec and not up then spec = nil end -- a bare duration: only "N hours from now"
        strong = true
      end
    end
    if spec then
      if strong or C.fut then out[#out + 1] = spec end
      i = j
    else
      i = i + 1
    end
  end
end

---------------------------------------------------------------------------
-- Instants
---------------------------------------------------------------------------

local WEST = { eow = 6, weekend = { [7] = true, [1] = true } } -- Sat, Sun off
local ARAB = { eow = 5, weekend = { [6] = true, [7] = true } } -- Fri, Sat off
local IRAN = { eow = 5, weekend = { [6] = true } } -- Fri off
local BY_LANG = { en = WEST, ar = ARAB, fa = IRAN }
local BY_REGION = {}
for _, r in ipairs { "EG", "SA", "KW", "QA", "BH", "OM", "YE", "IQ", "JO", "SY", "SD", "LY", "DZ",
  "PS" } do
  BY_REGION[r] = ARAB
end
BY_REGION.IR, BY_REGION.AF = IRAN, IRAN

-- A day of the week: 1 = Sunday .. 7, or a name in any of the languages.
local function day_number(v, what)
  local n = tointeger(v)
  if not n and type(v) == "string" then
    local e = LEX[normalize(v)]
    n = e and e.k == "wd" and e.w
  end
  if not n or n < 1 or n > 7 then
    error(format("%s: %q is not a day of the week (sunday .. saturday, or 1 = Sunday .. 7)",
      what, tostring(v)), 3)
  end
  return n
end

local function hhmm(v, what)
  if type(v) ~= "string" then
    error(format('%s: expected "HH:MM", got %s', what, type(v)), 3)
  end
  local h, m = v:match("^(%d%d?):(%d%d)$")
  h, m = tonumber(h), tonumber(m)
  if not h or h > 24 or m > 59 or (h == 24 and m > 0) then
    error(format('%s: "%s" is not a time of day like "17:00"', what, v), 3)
  end
  return h, m
end

-- Civil dates (proleptic Gregorian) and days since 1970-01-01.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, doy - (153 * mp + 2) // 5 + 1
end

-- Zones through c.local_time and c.utc cost a zone lookup each (~0.25 ms):
-- each zone's UTC offset is kept per UTC day (a bounded cache), false for a
-- day in which it changes; such days, and times near them, go to C.
local OFFSETS, noffsets, BADZONE, nbad = {}, 0, {}, 0

local function offset_at(x, tz)
  local lt = c.local_time(x, tz)
  if not lt then return nil end
  return days_from_civil(lt.year, lt.month, lt.day) * 86400 + lt.hour * 3600 + lt.min * 60 +
    lt.sec - x
end

-- The offset of zone tz all through the UTC day of instant x, or nil.
local function day_offset(tz, x)
  local zone = OFFSETS[tz]
  local day = x // 86400
  local off = zone and zone[day]
  if off == nil then
    local a = offset_at(day * 86400, tz)
    if not a then return nil end
    off = a == offset_at(day * 86400 + 86399, tz) and a
    if noffsets >= 4096 then OFFSETS, noffsets = {}, 0 end
    zone = OFFSETS[tz] or {}
    OFFSETS[tz], zone[day], noffsets = zone, off, noffsets + 1
  end
  return off or nil
end

-- The per-call state: the reference, the zone and its local time (lazily).
local State = {}
State.__index = State
State.__metatable = false -- hidden: rules' custom patterns get S

function State:local_time()
  if not self.lt then
    local zones = { self.t.customer_tz, self.opts.tz, "UTC" }
    for k = 1, 3 do
      local z = zones[k]
      if type(z) == "string" and z ~= "" and not BADZONE[z] then
        local off = day_offset(z, self.ref)
        if off then
          local l = self.ref + off
          local y, m, d = civil_from_days(l // 86400)
          local sec = l % 86400
          self.lt = { year = y, month = m, day = d, hour = sec // 3600, min = sec // 60 % 60,
            sec = sec % 60, wday = (l // 86400 + 4) % 7 + 1 }
        else
          self.lt = c.local_time(self.ref, z)
          if self.lt then
            off = days_from_civil(self.lt.year, self.lt.month, self.lt.day) * 86400 +
              self.lt.hour * 3600 + self.lt.min * 60 + self.lt.sec - self.ref
          end
        end
        if self.lt then
          self.tz, self.off = z, off
          break
        end
        if nbad >= 64 then BADZONE, nbad = {}, 0 end
        BADZONE[z], nbad = true, nbad + 1
      end
    end
  end
  return self.lt
end

-- Local wall time to an instant; fields roll over (day 32 is next month).
-- A time in a DST gap or overlap is C's to settle (c.utc).
function State:utc(y, mo, d, h, mi, s)
  local months = y * 12 + mo - 1
  local l = (days_from_civil(months // 12, months % 12 + 1, 1) + d - 1) * 86400 + h * 3600 +
    mi * 60 + s
  local o = day_offset(self.tz, l - self.off)
  if o then
    local x = l - o
    -- no change of offset within 2 hours either side: x is the only answer
    if day_offset(self.tz, x) == o and day_offset(self.tz, x - 7200) == o and
      day_offset(self.tz, x + 7200) == o then
      return x
    end
  end
  return (c.utc({ year = y, month = mo, day = d, hour = h, min = mi, sec = s }, self.tz))
end

function State:culture(lang)
  local o = self.opts
  if o.week_end ~= nil or o.weekend ~= nil then
    if not self.custom_culture then
      local eow = o.week_end ~= nil and day_number(o.week_end, "opts.week_end") or nil
      local off, n = {}, 0
      if o.weekend ~= nil then
        if type(o.weekend) ~= "table" then
          error("opts.weekend: expected a list of days like { \"fri\", \"sat\" }", 3)
        end
        for _, d in ipairs(o.weekend) do
          d = day_number(d, "opts.weekend")
          if not off[d] then off[d], n = true, n + 1 end
        end
        if n == 7 then error("opts.weekend: every day is off", 3) end
        -- the week ends on the working day before the days off
        for d = 1, 7 do
          if not eow and not off[d] and off[d % 7 + 1] then eow = d end
        end
      else
        off[eow % 7 + 1], off[(eow + 1) % 7 + 1] = true, true
      end
      self.custom_culture = { eow = eow or 6, weekend = off }
    end
    return self.custom_culture
  end
  local loc = self.t.customer_locale
  if type(loc) == "string" then
    local r = loc:match("^%a+[-_](%a%a)%f[%A]")
    if r then return BY_REGION[upper(r)] or WEST end
  end
  return BY_LANG[lang] or WEST
end

function State:at(days, h, m)
  local lt = self:local_time()
  return self:utc(lt.year, lt.month, lt.day + days, h, m, 0)
end

function State:business(n, cul)
  local lt = self:local_time()
  local d, k = 0, 0
  while k < n do
    d = d + 1
    if not cul.weekend[(lt.wday - 1 + d) % 7 + 1] then k = k + 1 end
  end
  return d
end

local SECONDS = { m = 60, h = 3600, d = 86400, w = 7 * 86400 }

-- The instant a spec means, or nil.
function State:resolve(spec)
  local ref = self.ref
  if spec.u then
    local n, u = spec.n, spec.u
    if n * (SECONDS[u] or 0) > 400 * 86400 then return nil end
    if u == "m" then return ref + floor(n * 60) end
    if u == "h" then return ref + floor(n * 3600) end
    if u == "w" then n = n * 7 end
    local lt = self:local_time()
    if spec.biz then
      return self:at(self:business(ceil(n), self:culture(spec.lang)), self.eod_h, self.eod_m)
    end
    if n ~= floor(n) then return ref + floor(n * 86400) end
    return self:utc(lt.year, lt.month, lt.day + n, lt.hour, lt.min, lt.sec)
  end
  local lt = self:local_time()
  local h, m = spec.h, spec.m or 0
  local soft = false
  if spec.eod or not h then
    if spec.before and not spec.eod and not spec.endof and (spec.wd or (spec.days and spec.days > 0)) then
      h, m = 0, 0
    else
      h, m, soft = self.eod_h, self.eod_m, not spec.eod
    end
  end
  local days
  if spec.days then
    days = spec.days
  elseif spec.wd then
    days = (spec.wd - lt.wday) % 7
    if days == 0 and not spec.this then days = 7 end
    if spec.next then
      -- "next Tuesday": not one still in this week (said on a Monday: the
      -- Tuesday after tomorrow's); the week ends with its weekend
      local cul = self:culture(spec.lang)
      local last = cul.eow
      for _ = 1, 6 do
        if not cul.weekend[last % 7 + 1] then break end
        last = last % 7 + 1
      end
      if days <= (last - lt.wday) % 7 then days = days + 7 end
    end
  elseif spec.week then
    local cul = self:culture(spec.lang)
    days = (cul.eow - lt.wday) % 7
    if spec.week == "next" and not cul.weekend[lt.wday] then days = days + 7 end
  elseif spec.biz then
    days = self:business(spec.biz, self:culture(spec.lang))
  elseif spec.month then
    local at = self:utc(lt.year, lt.month + 1, 0, h, m, 0)
    if at and at <= ref and soft then at = self:at(1, 0, 0) end
    return at
  else -- a time alone
    days = 0
  end
  local at = self:at(days, h, m)
  if at and at <= ref then
    if spec.clock then
      at = self:at(days + 1, h, m)
    elseif soft and days == 0 then
      at = self:at(1, 0, 0) -- end of day has passed: midnight
    elseif spec.wd and days == 0 then
      at = self:at(7, h, m)
    end
  end
  return at
end

---------------------------------------------------------------------------
-- Custom patterns
---------------------------------------------------------------------------

local custom = {}

-- Counts '*', '+', '-' as the sandbox's pattern guard does (core/lua/sandbox.c).
local function quantifiers(p)
  local q, i, n, in_set = 0, 1, #p, false
  while i <= n do
    local ch = sub(p, i, i)
    if ch == "%" then
      i = i + 1
      if sub(p, i, i) == "b" then i = i + 2 end
    elseif in_set then
      in_set = ch ~= "]"
    elseif ch == "[" then
      in_set = true
      if sub(p, i + 1, i + 1) == "^" then i = i + 1 end
      if sub(p, i + 1, i + 1) == "]" then i = i + 1 end
    elseif i > 1 and (ch == "*" or ch == "+" or ch == "-") then
      q = q + 1
    end
    i = i + 1
  end
  return q
end

function wafa.promise_pattern(pattern, fn)
  if type(pattern) ~= "string" or pattern == "" then
    error("promise_pattern: expected a Lua pattern string, as in "
      .. 'wafa.promise_pattern("in (%d+) business days", function(ctx, n) ... end)', 2)
  end
  if type(fn) ~= "function" then
    error('promise_pattern "' .. pattern .. '": expected a function(ctx, ...) as the second argument', 2)
  end
  local q = quantifiers(pattern)
  if q > MAX_CUSTOM_Q then
    error(format('promise_pattern "%s": %d of \'*\', \'+\', \'-\'; at most %d (the sandbox refuses '
      .. "costlier patterns)", pattern, q, MAX_CUSTOM_Q), 2)
  end
  -- the text is lower case: so are the pattern's letters, not its classes (%S, %A ...)
  local p = fold(gsub(pattern, "(%%?)(%u)", function(esc, l)
    if esc == "" then return lower(l) end
  end))
  local ok, why = pcall(find, "", p)
  if not ok then
    error('promise_pattern "' .. pattern .. '": ' .. tostring(why):gsub("^[^:]*:%d+: ", ""), 2)
  end
  -- one entry per call site: a call from a callback replaces, not piles up
  local key = c.where(2) .. pattern
  for _, cp in ipairs(custom) do
    if cp.key == key then
      cp.fn = fn
      return
    end
  end
  custom[#custom + 1] = { key = key, pattern = p, fn = fn, anchored = byte(p, 1) == 94 }
end

local function windows(s)
  local n = #s
  if n <= WINDOW then return { s } end
  local list, start, half = {}, 1, WINDOW // 2
  while start <= n do
    local stop = start + WINDOW - 1
    if stop >= n then
      list[#list + 1] = sub(s, start)
      break
    end
    local cut = stop
    while cut > start + half and byte(s, cut + 1) ~= 32 do cut = cut - 1 end
    list[#list + 1] = sub(s, start, cut)
    local nxt = start + half
    while nxt < cut and byte(s, nxt - 1) ~= 32 do nxt = nxt + 1 end
    start = nxt
  end
  return list
end

local function make_ctx(S, sentence, negated)
  local lt = S:local_time()
  local ctx = {
    now = S.ref, tz = S.tz, ticket = S.t, sentence = sentence, negated = negated,
    end_of_day = format("%02d:%02d", S.eod_h, S.eod_m),
    local_time = { year = lt.year, month = lt.month, day = lt.day, hour = lt.hour, min = lt.min,
      sec = lt.sec, wday = lt.wday },
  }
  function ctx.at(days, time)
    local d = tointeger(days)
    if not d then error("ctx.at: days_ahead must be an integer", 2) end
    local h, m = S.eod_h, S.eod_m
    if time ~= nil then h, m = hhmm(time, "ctx.at") end
    return S:at(d, h, m)
  end
  function ctx.after(seconds)
    if type(seconds) ~= "number" then error("ctx.after: expected seconds", 2) end
    return S.ref + floor(seconds)
  end
  function ctx.weekday(day, time)
    local spec = { wd = day_number(day, "ctx.weekday") }
    if time ~= nil then spec.h, spec.m = hhmm(time, "ctx.weekday") end
    return S:resolve(spec)
  end
  function ctx.business_days(n)
    return S:resolve({ u = "d", n = tointeger(n) or 1, biz = true })
  end
  function ctx.end_of_week()
    return S:resolve({ week = "this" })
  end
  return ctx
end

-- Runs the custom patterns on a sentence: the earliest instant, or false
-- for a veto, or nil.
local function run_custom(S, sentence, negated)
  local best, ctx
  local wins
  for _, cp in ipairs(custom) do
    wins = wins or windows(sentence)
    for wi, w in ipairs(wins) do
      if cp.anchored and wi > 1 then break end
      local init = 1
      while init <= #w + 1 do
        local r = pack(find(w, cp.pattern, init))
        if not r[1] then break end
        ctx = ctx or make_ctx(S, sentence, negated)
        local v
        if r.n == 2 then
          v = cp.fn(ctx, sub(w, r[1], r[2]))
        else
          v = cp.fn(ctx, unpack(r, 3, r.n))
        end
        if v == false then return false end
        if v ~= nil then
          if type(v) ~= "number" then
            error(format('promise_pattern "%s": the function must return seconds, nil or false, '
              .. "not %s", cp.pattern, type(v)), 0)
          end
          v = floor(v)
          if v > S.ref and (not best or v < best) then best = v end
        end
        if cp.anchored then break end
        init = r[2] >= r[1] and r[2] + 1 or r[1] + 1
      end
    end
    if best then return best end
  end
  return best
end

---------------------------------------------------------------------------

function wafa.promise_in(text, t, opts)
  if type(text) ~= "string" or text == "" then return nil end
  t = type(t) == "table" and t or EMPTY
  opts = type(opts) == "table" and opts or EMPTY
  local ref = opts.now
  if ref == nil then ref = t.last_agent_at end
  if ref == nil then ref = c.now() end
  if type(ref) ~= "number" then
    error("promise_in: the reference time (opts.now or t.last_agent_at) must be Unix seconds", 2)
  end
  ref = floor(ref)
  local S = setmetatable({ ref = ref, t = t, opts = opts, eod_h = 17, eod_m = 0 }, State)
  if opts.end_of_day ~= nil then
    S.eod_h, S.eod_m = hhmm(opts.end_of_day, "opts.end_of_day")
  end
  local best
  local function consider(at)
    if at and at > ref and (not best or at < best) then best = at end
  end
  text = prepare(text, #custom > 0)
  if #custom == 0 then
    local clauses = clauses_of(words_of(text))
    local specs = {}
    for _, C in ipairs(clauses) do promises_of(C, specs) end
    for _, spec in ipairs(specs) do consider(S:resolve(spec)) end
    return best
  end
  -- custom patterns decide a sentence before the built-ins
  for _, sentence in ipairs(sentences_of(text)) do
    local clauses, negated = clauses_of(words_of(sentence))
    local v = run_custom(S, sentence, negated)
    if v then consider(v) end
    if v == nil then
      local specs = {}
      for _, C in ipairs(clauses) do promises_of(C, specs) end
      for _, spec in ipairs(specs) do consider(S:resolve(spec)) end
    end
  end
  return best
end
