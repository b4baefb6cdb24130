#include "web/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "time/clock.h"
#include "base/log.h"
#include "store/pg.h"
#include "web/metrics.h"
#include "web/token.h"

#define BODY_MAX 32768     /* 2000 characters of UTF-8, percent-encoded, fit */
#define COMMENT_MAX 2000   /* characters */
#define CONN_LIMIT 512
#define CONN_TIMEOUT_S 30
/* Slowloris: 600 half-sent requests held every slot for 30 s.  Until its
 * headers are in, a connection may idle HEADER_TIMEOUT_S; one address holds
 * at most PER_IP_LIMIT connections (behind a reverse proxy every client
 * shares the proxy's address: the proxy buffers requests and limits them,
 * see the README). */
#define HEADER_TIMEOUT_S 5
#define PER_IP_LIMIT 64
#define RETRY_AFTER_S "30"

/* ------------------------------------------------------------------ SQL */

/* A score: recorded, or updated by a repeated click.  No row: no such mail. */
static const char score_sql[] =
	"WITH m AS (SELECT id, ticket_id, rule, locale, mail_address(rcpt) AS email FROM outbox\n"
	"           WHERE id = $1::bigint),\n"
	"s AS (INSERT INTO survey (mail_id, ticket_id, rule, email, score)\n"
	"      SELECT id, ticket_id, rule, email, $2::integer FROM m\n"
	"      ON CONFLICT (mail_id) DO UPDATE SET score = excluded.score, updated_at = now()\n"
	"      RETURNING mail_id)\n"
	"SELECT m.locale, (SELECT count(*) FROM s), m.email FROM m";

/* A score with a comment: both as sent (the form's score is the token's). */
static const char comment_sql[] =
	"WITH m AS (SELECT id, ticket_id, rule, locale, mail_address(rcpt) AS email FROM outbox\n"
	"           WHERE id = $1::bigint),\n"
	"s AS (INSERT INTO survey (mail_id, ticket_id, rule, email, score, comment)\n"
	"      SELECT id, ticket_id, rule, email, $2::integer, $3::text FROM m\n"
	"      ON CONFLICT (mail_id) DO UPDATE SET score = excluded.score,\n"
	"                                          comment = excluded.comment, updated_at = now()\n"
	"      RETURNING mail_id)\n"
	"SELECT m.locale, (SELECT count(*) FROM s), m.email FROM m";

/* After an answer is stored: the ticket's owner and queue as the view has
 * them now, kept with a new answer (a repeat keeps the first's), for the
 * report's CSAT per agent and per queue.  A separate statement, so a view
 * that fails on the row costs the stamp, never the answer.  %s: the view. */
static const char stamp_fmt[] =
	"UPDATE survey s SET owner_email = v.owner_email, owner_name = v.owner_name, "
	"       queue = v.queue "
	"  FROM %s v WHERE s.mail_id = $1::bigint AND v.id = s.ticket_id "
	"   AND s.owner_email IS NULL AND s.owner_name IS NULL AND s.queue IS NULL";

/* The confirm page and the survey's choice page only need the language. */
static const char locale_sql[] =
	"SELECT locale, NULL, mail_address(rcpt) FROM outbox WHERE id = $1::bigint";

/* An opt-out for the mail's address (the link carries the mail's id, not the
 * address).  No row: no such mail. */
static const char optout_sql[] =
	"WITH m AS (SELECT locale, mail_address(rcpt) AS email FROM outbox WHERE id = $1::bigint),\n"
	"o AS (INSERT INTO optout (email, source) SELECT email, 'link' FROM m\n"
	"      ON CONFLICT DO NOTHING RETURNING email)\n"
	"SELECT m.locale, (SELECT count(*) FROM o), m.email FROM m";

/* For GET .../metrics: the age of the oldest queued mail (NULL: none). */
static const char oldest_sql[] =
	"SELECT extract(epoch FROM now() - min(created_at)) FROM outbox WHERE status = 'queued'";

/* ---------------------------------------------------------------- pages */

enum lang { EN, AR, FA, NLANGS };

enum err {
	E_INVALID,     /* forged, altered, cut short: 400 */
	E_EXPIRED,     /* 410 */
	E_UNKNOWN,     /* signed, but no such mail: 404 */
	E_NOTFOUND,    /* no such path: 404 */
	E_METHOD,      /* 405 */
	E_TOOLONG,     /* 413 */
	E_BADFORM,     /* not UTF-8, NUL, bad escapes: 400 */
	E_UNAVAILABLE, /* no database just now: 503 */
	E_INTERNAL,    /* 500 */
	NERRS
};

static const unsigned err_status[NERRS] = {
	[E_INVALID] = MHD_HTTP_BAD_REQUEST,
	[E_EXPIRED] = MHD_HTTP_GONE,
	[E_UNKNOWN] = MHD_HTTP_NOT_FOUND,
	[E_NOTFOUND] = MHD_HTTP_NOT_FOUND,
	[E_METHOD] = MHD_HTTP_METHOD_NOT_ALLOWED,
	[E_TOOLONG] = MHD_HTTP_CONTENT_TOO_LARGE,
	[E_BADFORM] = MHD_HTTP_BAD_REQUEST,
	[E_UNAVAILABLE] = MHD_HTTP_SERVICE_UNAVAILABLE,
	[E_INTERNAL] = MHD_HTTP_INTERNAL_SERVER_ERROR,
};

struct texts {
	const char *code, *dir;
	const char *digit[6];
	/* thank-you page: pre SCORE post */
	const char *thanks_title, *thanks_h1, *rated_pre, *rated_post, *comment_label, *send;
	/* the choice page a survey link opens (nothing recorded yet): pre SCORE post */
	const char *choose_title, *choose_h1, *chose_pre, *choose_p;
	/* comment saved */
	const char *saved_title, *saved_h1, *saved_p;
	/* unsubscribe: confirm and done, pre EMAIL post */
	const char *confirm_title, *confirm_h1, *confirm_pre, *confirm_post, *confirm_button;
	const char *done_title, *done_h1, *done_pre, *done_post;
	const char *err_h1[NERRS], *err_p[NERRS];
};

static const struct texts texts[NLANGS] = {
	[EN] = {
		.code = "en",
		.dir = "ltr",
		.digit = { "0", "1", "2", "3", "4", "5" },
		.thanks_title = "Thank you",
		.thanks_h1 = "Thank you!",
		.rated_pre = "You rated us ",
		.rated_post = " of 5.",
		.comment_label = "Would you like to tell us more? (optional)",
		.send = "Send",
		.choose_title = "Your rating",
		.choose_h1 = "Your rating",
		.chose_pre = "You chose ",
		.choose_p = "Press Send to give us your rating.",
		.saved_title = "Comment received",
		.saved_h1 = "Thank you for your comment",
		.saved_p = "We have saved it, and our support team will read it.",
		.confirm_title = "Unsubscribe",
		.confirm_h1 = "Unsubscribe?",
		.confirm_pre = "Press the button below and we will stop sending emails like this one to ",
		.confirm_post = ".",
		.confirm_button = "Unsubscribe",
		.done_title = "Unsubscribed",
		.done_h1 = "You have been unsubscribed",
		.done_pre = "We will not send emails like this one to ",
		.done_post = " any more.",
		.err_h1 = {
			[E_INVALID] = "This link does not work",
			[E_EXPIRED] = "This link has expired",
			[E_UNKNOWN] = "This link is no longer valid",
			[E_NOTFOUND] = "Page not found",
			[E_METHOD] = "Request not supported",
			[E_TOOLONG] = "Your comment is too long",
			[E_BADFORM] = "Your comment could not be read",
			[E_UNAVAILABLE] = "Please try again in a moment",
			[E_INTERNAL] = "Something went wrong on our side",
		},
		.err_p = {
			[E_INVALID] = "It may have been cut short when it was copied. Please open the link "
			              "exactly as it appears in the email. Nothing has been recorded.",
			[E_EXPIRED] = "Links in our emails work only for a limited time, so nothing has been "
			              "recorded. If you would still like to tell us something, simply reply "
			              "to the email.",
			[E_UNKNOWN] = "We could not find the email it came from, so nothing has been "
			              "recorded. If you would like to tell us something, simply reply to "
			              "the email.",
			[E_NOTFOUND] = "There is no page at this address.",
			[E_METHOD] = "This page can only be opened, or sent, from the link in your email.",
			[E_TOOLONG] = "A comment can be at most 2000 characters long. Please shorten yours "
			              "and send it again.",
			[E_BADFORM] = "Please go back, check the text and send it again.",
			[E_UNAVAILABLE] = "We could not save your answer just now. Please open the link "
			                  "again in a few minutes.",
			[E_INTERNAL] = "Nothing has been recorded. Please open the link again later.",
		},
	},
	[AR] = {
		.code = "ar",
		.dir = "rtl",
		.digit = { "٠", "١", "٢", "٣", "٤", "٥" },
		.thanks_title = "شكرًا لك",
		.thanks_h1 = "شكرًا لك!",
		.rated_pre = "تقييمك لنا: ",
		.rated_post = " من ٥",
		.comment_label = "يسعدنا أن نعرف المزيد عن تجربتك (اختياري)",
		.send = "إرسال",
		.choose_title = "تقييمك",
		.choose_h1 = "تقييمك",
		.chose_pre = "اخترت: ",
		.choose_p = "اضغط «إرسال» لتسجيل تقييمك.",
		.saved_title = "وصلنا تعليقك",
		.saved_h1 = "شكرًا على تعليقك",
		.saved_p = "حفظنا تعليقك، وسيطّلع عليه فريق الدعم لدينا.",
		.confirm_title = "إلغاء الاشتراك",
		.confirm_h1 = "إلغاء الاشتراك؟",
		.confirm_pre = "عند الضغط على الزر أدناه سنتوقف عن إرسال رسائل مثل هذه إلى ",
		.confirm_post = ".",
		.confirm_button = "إلغاء الاشتراك",
		.done_title = "تم إلغاء الاشتراك",
		.done_h1 = "تم إلغاء اشتراكك",
		.done_pre = "لن نرسل بعد الآن رسائل مثل هذه إلى ",
		.done_post = ".",
		.err_h1 = {
			[E_INVALID] = "هذا الرابط لا يعمل",
			[E_EXPIRED] = "انتهت صلاحية هذا الرابط",
			[E_UNKNOWN] = "هذا الرابط لم يعد صالحًا",
			[E_NOTFOUND] = "الصفحة غير موجودة",
			[E_METHOD] = "طلب غير مدعوم",
			[E_TOOLONG] = "التعليق طويل جدًا",
			[E_BADFORM] = "تعذّرت قراءة تعليقك",
			[E_UNAVAILABLE] = "يُرجى المحاولة بعد قليل",
			[E_INTERNAL] = "حدث خطأ من جهتنا",
		},
		.err_p = {
			[E_INVALID] = "ربما نُسخ الرابط ناقصًا. يُرجى فتح الرابط كما ورد في الرسالة تمامًا. "
			              "لم يُسجَّل أي شيء.",
			[E_EXPIRED] = "روابط رسائلنا صالحة لفترة محدودة فقط، لذلك لم يُسجَّل أي شيء. وإن "
			              "أردت إخبارنا بشيء، فيمكنك الرد على الرسالة مباشرةً.",
			[E_UNKNOWN] = "لم نعثر على الرسالة التي جاء منها هذا الرابط، لذلك لم يُسجَّل أي شيء. "
			              "وإن أردت إخبارنا بشيء، فيمكنك الرد على الرسالة مباشرةً.",
			[E_NOTFOUND] = "لا توجد صفحة على هذا العنوان.",
			[E_METHOD] = "لا يمكن فتح هذه الصفحة أو الإرسال منها إلا عبر الرابط الموجود في "
			             "رسالتك.",
			[E_TOOLONG] = "الحد الأقصى للتعليق ٢٠٠٠ حرف. يُرجى اختصاره ثم إرساله مرة أخرى.",
			[E_BADFORM] = "يُرجى الرجوع ومراجعة النص ثم إرساله مرة أخرى.",
			[E_UNAVAILABLE] = "تعذّر حفظ إجابتك الآن. يُرجى فتح الرابط مرة أخرى بعد بضع دقائق.",
			[E_INTERNAL] = "لم يُسجَّل أي شيء. يُرجى فتح الرابط مرة أخرى لاحقًا.",
		},
	},
	[FA] = {
		.code = "fa",
		.dir = "rtl",
		.digit = { "۰", "۱", "۲", "۳", "۴", "۵" },
		.thanks_title = "سپاسگزاریم",
		.thanks_h1 = "از شما سپاسگزاریم!",
		.rated_pre = "امتیاز شما به ما: ",
		.rated_post = " از ۵",
		.comment_label = "خوشحال می‌شویم بیشتر از تجربه‌تان بدانیم (اختیاری)",
		.send = "ارسال",
		.choose_title = "امتیاز شما",
		.choose_h1 = "امتیاز شما",
		.chose_pre = "امتیاز انتخابی شما: ",
		.choose_p = "برای ثبت امتیاز، دکمهٔ «ارسال» را بزنید.",
		.saved_title = "نظر شما رسید",
		.saved_h1 = "از نظرتان سپاسگزاریم",
		.saved_p = "نظر شما ثبت شد و تیم پشتیبانی ما آن را می‌خواند.",
		.confirm_title = "لغو اشتراک",
		.confirm_h1 = "لغو اشتراک؟",
		.confirm_pre = "با زدن دکمهٔ زیر، دیگر ایمیل‌هایی مانند این را به نشانی ",
		.confirm_post = " نمی‌فرستیم.",
		.confirm_button = "لغو اشتراک",
		.done_title = "اشتراک لغو شد",
		.done_h1 = "اشتراک شما لغو شد",
		.done_pre = "از این پس ایمیل‌هایی مانند این را به نشانی ",
		.done_post = " نمی‌فرستیم.",
		.err_h1 = {
			[E_INVALID] = "این پیوند کار نمی‌کند",
			[E_EXPIRED] = "مهلت این پیوند به پایان رسیده است",
			[E_UNKNOWN] = "این پیوند دیگر معتبر نیست",
			[E_NOTFOUND] = "صفحه پیدا نشد",
			[E_METHOD] = "این درخواست پشتیبانی نمی‌شود",
			[E_TOOLONG] = "نظر شما بیش از حد طولانی است",
			[E_BADFORM] = "نظر شما خوانده نشد",
			[E_UNAVAILABLE] = "لطفاً کمی بعد دوباره امتحان کنید",
			[E_INTERNAL] = "مشکلی از سوی ما پیش آمد",
		},
		.err_p = {
			[E_INVALID] = "شاید پیوند هنگام کپی‌کردن ناقص شده باشد. لطفاً پیوند را دقیقاً "
			              "همان‌طور که در ایمیل آمده است باز کنید. چیزی ثبت نشد.",
			[E_EXPIRED] = "پیوندهای ایمیل‌های ما فقط تا مدت محدودی کار می‌کنند، برای همین چیزی "
			              "ثبت نشد. اگر هنوز می‌خواهید چیزی به ما بگویید، کافی است به همان "
			              "ایمیل پاسخ دهید.",
			[E_UNKNOWN] = "ایمیلی که این پیوند در آن بود پیدا نشد، برای همین چیزی ثبت نشد. اگر "
			              "می‌خواهید چیزی به ما بگویید، کافی است به همان ایمیل پاسخ دهید.",
			[E_NOTFOUND] = "در این نشانی صفحه‌ای وجود ندارد.",
			[E_METHOD] = "این صفحه را فقط از پیوند درون ایمیلتان می‌توان باز کرد یا فرستاد.",
			[E_TOOLONG] = "نظر حداکثر می‌تواند ۲۰۰۰ نویسه باشد. لطفاً آن را کوتاه‌تر کنید و "
			              "دوباره بفرستید.",
			[E_BADFORM] = "لطفاً برگردید، متن را بررسی کنید و دوباره بفرستید.",
			[E_UNAVAILABLE] = "پاسخ شما در این لحظه ثبت نشد. لطفاً چند دقیقهٔ دیگر دوباره "
			                  "پیوند را باز کنید.",
			[E_INTERNAL] = "چیزی ثبت نشد. لطفاً بعداً دوباره پیوند را باز کنید.",
		},
	},
};

static const char style[] =
	"body{margin:0;background:#f3f4f6;color:#1f2933;"
	"font:17px/1.6 system-ui,-apple-system,\"Segoe UI\",Tahoma,\"Noto Sans\",sans-serif}"
	"main{max-width:34rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:12px;"
	"box-shadow:0 1px 4px rgba(0,0,0,.08)}"
	"h1{font-size:1.45rem;line-height:1.3;margin:0 0 .8rem}"
	".stars{font-size:2.2rem;letter-spacing:.12em;color:#f2a50c;margin:.2rem 0}"
	"label{display:block;margin:1.2rem 0 .4rem}"
	"textarea{display:block;width:100%;box-sizing:border-box;min-height:7rem;padding:.6rem;"
	"font:inherit;border:1px solid #c3c9d2;border-radius:8px}"
	"button{margin-top:.9rem;padding:.65rem 1.5rem;font:inherit;color:#fff;background:#2456c8;"
	"border:0;border-radius:8px;cursor:pointer}"
	"@media (max-width:36rem){main{margin:0;min-height:100vh;border-radius:0;box-shadow:none;"
	"box-sizing:border-box}}";

/* A growing string; after a failed allocation it stays failed. */
struct sb {
	char *p;
	size_t n, cap;
	bool failed;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Text into HTML (element content or a quoted attribute). */
static void sb_html(struct sb *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *e;
		switch (*s) {
		case '&': e = "&amp;"; break;
		case '<': e = "&lt;"; break;
		case '>': e = "&gt;"; break;
		case '"': e = "&quot;"; break;
		case '\'': e = "&#39;"; break;
		default: continue;
		}
		sb_add(b, run, (size_t)(s - run));
		sb_puts(b, e);
		run = s + 1;
	}
	sb_add(b, run, (size_t)(s - run));
}

/* Returns the text (the caller frees it) and its length, or NULL. */
static char *sb_take(struct sb *b, size_t *len)
{
	if (b->failed || !b->p) {
		free(b->p);
		return NULL;
	}
	*len = b->n;
	return b->p;
}

static void page_begin(struct sb *b, const struct texts *t, const char *title)
{
	sb_puts(b, "<!DOCTYPE html>\n<html lang=\"");
	sb_puts(b, t->code);
	sb_puts(b, "\" dir=\"");
	sb_puts(b, t->dir);
	sb_puts(b, "\">\n<head>\n<meta charset=\"utf-8\">\n"
	           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	           "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>");
	sb_html(b, title);
	sb_puts(b, "</title>\n<style>");
	sb_puts(b, style);
	sb_puts(b, "</style>\n</head>\n<body>\n<main>\n<h1>");
}

static void page_end(struct sb *b)
{
	sb_puts(b, "</main>\n</body>\n</html>\n");
}

/* pre EMAIL post, the address isolated so that it reads left to right in
 * Arabic and Persian text too */
static void sb_email_line(struct sb *b, const char *pre, const char *email, const char *post)
{
	sb_puts(b, "<p>");
	sb_html(b, pre);
	sb_puts(b, "<bdi dir=\"ltr\">");
	sb_html(b, email);
	sb_puts(b, "</bdi>");
	sb_html(b, post);
	sb_puts(b, "</p>\n");
}

static void sb_stars(struct sb *b, const struct texts *t, int score, const char *pre)
{
	sb_puts(b, "<p class=\"stars\" aria-hidden=\"true\">");
	for (int i = 1; i <= 5; i++)
		sb_puts(b, i <= score ? "\u2605" : "\u2606");
	sb_puts(b, "</p>\n<p>");
	sb_html(b, pre);
	sb_html(b, t->digit[score >= 0 && score <= 5 ? score : 0]);
	sb_html(b, t->rated_post);
	sb_puts(b, "</p>\n");
}

/* What a survey link opens: the score chosen, an optional comment and one
 * button.  Mail scanners open every link in a mail; only the button's POST
 * records, so a scanner records nothing. */
static char *page_choose(enum lang l, int score, size_t *len)
{
	const struct texts *t = &texts[l];
	struct sb b = { 0 };

	page_begin(&b, t, t->choose_title);
	sb_html(&b, t->choose_h1);
	sb_puts(&b, "</h1>\n");
	sb_stars(&b, t, score, t->chose_pre);
	/* no action: the form posts to this same URL */
	sb_puts(&b, "<form method=\"post\" accept-charset=\"utf-8\">\n<label for=\"comment\">");
	sb_html(&b, t->comment_label);
	sb_puts(&b, "</label>\n<textarea id=\"comment\" name=\"comment\" rows=\"5\" maxlength=\"2000\">"
	            "</textarea>\n<p>");
	sb_html(&b, t->choose_p);
	sb_puts(&b, "</p>\n<button type=\"submit\">");
	sb_html(&b, t->send);
	sb_puts(&b, "</button>\n</form>\n");
	page_end(&b);
	return sb_take(&b, len);
}

/* The score is recorded. */
static char *page_thanks(enum lang l, int score, size_t *len)
{
	const struct texts *t = &texts[l];
	struct sb b = { 0 };

	page_begin(&b, t, t->thanks_title);
	sb_html(&b, t->thanks_h1);
	sb_puts(&b, "</h1>\n");
	sb_stars(&b, t, score, t->rated_pre);
	page_end(&b);
	return sb_take(&b, len);
}

static char *page_saved(enum lang l, size_t *len)
{
	const struct texts *t = &texts[l];
	struct sb b = { 0 };

	page_begin(&b, t, t->saved_title);
	sb_html(&b, t->saved_h1);
	sb_puts(&b, "</h1>\n<p>");
	sb_html(&b, t->saved_p);
	sb_puts(&b, "</p>\n");
	page_end(&b);
	return sb_take(&b, len);
}

static char *page_confirm(enum lang l, const char *email, size_t *len)
{
	const struct texts *t = &texts[l];
	struct sb b = { 0 };

	page_begin(&b, t, t->confirm_title);
	sb_html(&b, t->confirm_h1);
	sb_puts(&b, "</h1>\n");
	sb_email_line(&b, t->confirm_pre, email, t->confirm_post);
	/* no action: the form posts to this same URL */
	sb_puts(&b, "<form method=\"post\" accept-charset=\"utf-8\">\n"
	            "<input type=\"hidden\" name=\"confirm\" value=\"1\">\n<button type=\"submit\">");
	sb_html(&b, t->confirm_button);
	sb_puts(&b, "</button>\n</form>\n");
	page_end(&b);
	return sb_take(&b, len);
}

static char *page_done(enum lang l, const char *email, size_t *len)
{
	const struct texts *t = &texts[l];
	struct sb b = { 0 };

	page_begin(&b, t, t->done_title);
	sb_html(&b, t->done_h1);
	sb_puts(&b, "</h1>\n");
	sb_email_line(&b, t->done_pre, email, t->done_post);
	page_end(&b);
	return sb_take(&b, len);
}

static char *page_error(enum lang l, enum err e, size_t *len)
{
	const struct texts *t = &texts[l];
	struct sb b = { 0 };

	page_begin(&b, t, t->err_h1[e]);
	sb_html(&b, t->err_h1[e]);
	sb_puts(&b, "</h1>\n<p>");
	sb_html(&b, t->err_p[e]);
	sb_puts(&b, "</p>\n");
	page_end(&b);
	return sb_take(&b, len);
}

/* "ar-EG", "fa_IR.UTF-8", "AR": the language's first subtag. */
static int lang_of(const char *tag, size_t n)
{
	if (n < 2 || (n > 2 && tag[2] != '-' && tag[2] != '_' && tag[2] != '.' && tag[2] != '@'))
		return -1;
	char a = (char)(tag[0] | 0x20), b = (char)(tag[1] | 0x20);
	if (a == 'a' && b == 'r')
		return AR;
	if (a == 'f' && b == 'a')
		return FA;
	if (a == 'e' && b == 'n')
		return EN;
	return -1;
}

static enum lang lang_of_locale(const char *locale)
{
	int l = locale ? lang_of(locale, strlen(locale)) : -1;
	return l < 0 ? EN : (enum lang)l;
}

/* The q of ";q=0.8" between p and end, in thousandths (1000 without one);
 * by hand, as strtod would follow the locale. */
static int qvalue(const char *p, const char *end)
{
	const char *q = p;
	int v = 0, scale = 1000;

	while (q + 1 < end && !(q[0] == 'q' && q[1] == '='))
		q++;
	if (q + 1 >= end)
		return 1000;
	q += 2;
	if (q < end && *q == '1')
		return 1000;
	if (q >= end || *q != '0')
		return 0;
	q++;
	if (q < end && *q == '.')
		for (q++; q < end && *q >= '0' && *q <= '9' && scale > 1; q++) {
			scale /= 10;
			v += (*q - '0') * scale;
		}
	return v;
}

/* For pages about a link that tells no language (forged, unknown): the
 * browser's preference among the languages there are pages in. */
static enum lang lang_of_accept(const char *accept)
{
	int best = EN, best_q = 0;

	while (accept && *accept) {
		size_t n = strcspn(accept, ",");
		const char *item = accept, *semi;
		int q = 1000, l;

		while (n > 0 && (*item == ' ' || *item == '\t')) {
			item++;
			n--;
		}
		semi = memchr(item, ';', n);
		l = lang_of(item, semi ? (size_t)(semi - item) : n);
		if (semi)
			q = qvalue(semi, item + n);
		if (l >= 0 && q > best_q) {
			best = l;
			best_q = q;
		}
		accept = item + n;
		if (*accept == ',')
			accept++;
	}
	return (enum lang)best;
}

/* ------------------------------------------------------------ the forms */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The value of field name in an application/x-www-form-urlencoded body,
 * decoded into a malloc'd string.  Returns 0, -ENOENT, -EBADMSG (a bad
 * escape or a NUL) or -ENOMEM. */
static int form_field(const char *body, size_t n, const char *name, char **out)
{
	size_t namelen = strlen(name);
	const char *p = body, *end = body + n;

	*out = NULL;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fend = amp ? amp : end;
		if ((size_t)(fend - p) > namelen && memcmp(p, name, namelen) == 0 &&
		    p[namelen] == '=') {
			const char *v = p + namelen + 1;
			char *o = malloc((size_t)(fend - v) + 1), *w = o;
			if (!o)
				return -ENOMEM;
			while (v < fend) {
				if (*v == '+') {
					*w++ = ' ';
					v++;
				} else if (*v == '%') {
					if (fend - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0)
						goto bad;
					*w++ = (char)(hexval(v[1]) << 4 | hexval(v[2]));
					if (w[-1] == '\0')
						goto bad;
					v += 3;
				} else if (*v == '\0') {
					goto bad;
				} else {
					*w++ = *v++;
				}
			}
			*w = '\0';
			*out = o;
			return 0;
		bad:
			free(o);
			return -EBADMSG;
		}
		p = amp ? amp + 1 : end;
	}
	return -ENOENT;
}

/* Counts the characters of s, or returns -1 if it is not UTF-8 (overlong
 * forms, surrogates and values past U+10FFFF are not). */
static long utf8_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long count = 0;

	while (*p) {
		unsigned c = *p, need;
		uint32_t cp, min;
		if (c < 0x80) {
			p++;
			count++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return -1;
		}
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		p += need + 1;
		count++;
	}
	return count;
}

/* The address in "Name <addr>", or the whole text without its outer
 * spaces: the rule of the schema's mail_address() (less its lower()), so
 * that an opt-out matches however the mail's rcpt was written. */
static void bare_address(const char *s, char *out, size_t size)
{
	const char *from = NULL, *to = NULL;

	for (const char *p = s; *p && !from; p++) {
		if (*p != '<')
			continue;
		const char *q = p + 1;
		while (*q && *q != '<' && *q != '>')
			q++;
		if (*q == '>') {
			from = p + 1;
			to = q;
		}
	}
	if (!from) {
		for (from = s; *from == ' '; from++)
			;
		for (to = from + strlen(from); to > from && to[-1] == ' '; to--)
			;
	}
	snprintf(out, size, "%.*s", (int)(to - from), from);
}

/* Browsers send a textarea's line breaks as CRLF: keep them as LF. */
static void lf_only(char *s)
{
	char *w = s;

	for (; *s; s++)
		if (!(s[0] == '\r' && s[1] == '\n'))
			*w++ = *s;
	*w = '\0';
}

static bool blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return false;
	return true;
}

/* ---------------------------------------------------------- the server */

struct wafa_web {
	uv_loop_t *loop;
	struct wafa_pg *pg;
	struct MHD_Daemon *mhd;
	uv_poll_t poll; /* MHD's epoll descriptor */
	uv_timer_t timer; /* MHD's timeouts, and a run after a resume */
	unsigned handles;
	bool resumed;   /* a connection was resumed during MHD_run */
	bool closing;
	unsigned char *key;
	size_t keylen;
	char base_path[256]; /* [web] base_url's path ("/wafa"), or "" */
	bool metrics_only;    /* [web] metrics_listen's: /metrics and /health only */
	bool metrics_elsewhere; /* /metrics is on metrics_listen, not here */
	struct wafa_web *metrics; /* the metrics_listen listener, or NULL */
	struct wafa_web *parent;  /* for the metrics listener: the one it belongs to */
	struct req *waiting; /* suspended for a query */
	char *stamp_sql;     /* an answer's owner and queue (see stamp_fmt) */
	void (*answered)(void *arg);
	void *answered_arg;
	void (*done)(void *arg);
	void *done_arg;
};

enum action { A_CHOOSE, A_SCORE, A_COMMENT, A_CONFIRM, A_OPTOUT, A_METRICS };

/* One request.  Held by MHD (until the request completes) and by the query
 * out for it (until its callback); freed when both have let go. */
struct req {
	struct wafa_web *w; /* NULL once the listener is closing */
	struct MHD_Connection *conn; /* NULL once MHD is done with it */
	struct req *prev, *next;     /* in w->waiting */
	bool listed;
	int refs;
	bool queued; /* a response is queued: nothing more to do */
	enum action action;
	enum lang accept; /* from Accept-Language, for pages without a mail */
	struct wafa_token tok;
	char email[sizeof(((struct wafa_token *)0)->email)]; /* the bare address */
	char *body;
	size_t len;
	bool too_big;
	/* the answer, set when the query is done */
	bool answered;
	unsigned status;
	char *page;
	size_t page_len;
};

static void req_unref(struct req *r)
{
	if (--r->refs > 0)
		return;
	free(r->body);
	free(r->page);
	free(r);
}

static void unlist(struct req *r)
{
	if (!r->listed)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		r->w->waiting = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	r->listed = false;
}

static void on_timer(uv_timer_t *t);

/* Runs MHD, then sets the timer by what MHD waits for. */
static void run(struct wafa_web *w)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (w->closing)
		return;
	w->resumed = false;
	MHD_run(w->mhd);
	if (w->resumed)
		uv_timer_start(&w->timer, on_timer, 0, 0);
	else if (MHD_get_timeout(w->mhd, &ms) == MHD_YES)
		uv_timer_start(&w->timer, on_timer, ms > 86400000 ? 86400000 : (uint64_t)ms, 0);
	else
		uv_timer_stop(&w->timer);
}

static void on_timer(uv_timer_t *t)
{
	run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	run(p->data);
}

/* The answer is ready: let MHD call the handler again to send it.  MHD in
 * external-loop mode has no wake-up channel, so run it on the next turn. */
static void wake(struct req *r)
{
	struct wafa_web *w = r->w;

	unlist(r);
	r->answered = true;
	MHD_resume_connection(r->conn);
	w->resumed = true;
	uv_timer_start(&w->timer, on_timer, 0, 0);
}

static void set_page(struct req *r, unsigned status, char *page, size_t len)
{
	free(r->page);
	r->status = status;
	r->page = page;
	r->page_len = page ? len : 0;
}

static void set_error(struct req *r, enum lang l, enum err e)
{
	size_t len = 0;
	char *page = page_error(l, e, &len);
	set_page(r, err_status[e], page, len);
}

/* The metrics page, with the outbox's oldest queued age when known (< 0:
 * the query failed, and the gauge is left out). */
static void set_metrics(struct req *r, double oldest_s)
{
	size_t len = 0;
	char *page = wafa_metrics_render(oldest_s, &len);
	set_page(r, MHD_HTTP_OK, page, len);
}

static void on_stamped(PGresult *res, void *arg)
{
	(void)arg;
	if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
		wafa_log(WAFA_WARN, "web", "an answer's owner and queue: %s (the report reads the "
		         "ticket's as they are now)", wafa_pg_result_error(res));
}

/* An answer is stored: its owner and queue stamped, and the daemon told. */
static void answer_stored(struct wafa_web *w, int64_t mail_id)
{
	char id[24];
	const char *p[] = { id };

	snprintf(id, sizeof(id), "%" PRId64, mail_id);
	if (w->stamp_sql && wafa_pg_query(w->pg, w->stamp_sql, 1, p, on_stamped, NULL) != 0)
		wafa_log(WAFA_DEBUG, "web", "mail=%" PRId64 ": the answer's owner and queue were not "
		         "stamped (no connection)", mail_id);
	if (w->answered)
		w->answered(w->answered_arg);
}

void wafa_web_on_answer(struct wafa_web *w, void (*answered)(void *arg), void *arg)
{
	w->answered = answered;
	w->answered_arg = arg;
}

static void on_result(PGresult *res, void *arg)
{
	struct req *r = arg;
	const struct wafa_token *t = &r->tok;
	size_t len = 0;
	char *page = NULL;
	enum lang l;

	if (!r->w || !r->conn) {
		req_unref(r); /* the listener or the client went away: nothing to say */
		return;
	}
	if (r->action == A_METRICS) {
		bool known = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		if (!known)
			wafa_log(WAFA_WARN, "web", "metrics: the outbox's oldest queued mail: %s",
			         wafa_pg_result_error(res));
		set_metrics(r, !known                ? -1.0
		               : PQgetisnull(res, 0, 0) ? 0.0
		                                        : strtod(PQgetvalue(res, 0, 0), NULL));
		goto out;
	}
	if (!res) {
		wafa_log(WAFA_WARN, "web", "mail=%" PRId64 ": the database connection was lost; "
		         "answered 503", t->mail_id);
		set_error(r, r->accept, E_UNAVAILABLE);
		goto out;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		wafa_log(WAFA_ERROR, "web", "mail=%" PRId64 ": %s", t->mail_id,
		         wafa_pg_result_error(res));
		set_error(r, r->accept, E_INTERNAL);
		goto out;
	}
	if (r->action == A_SCORE || r->action == A_COMMENT || r->action == A_CHOOSE) {
		if (PQntuples(res) == 0) {
			wafa_log(WAFA_INFO, "web", "mail=%" PRId64 ": a survey link for a mail that is "
			         "not in the outbox; nothing recorded", t->mail_id);
			set_error(r, r->accept, E_UNKNOWN);
			goto out;
		}
		l = lang_of_locale(PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0));
		if (r->action == A_CHOOSE) {
			page = page_choose(l, t->score, &len);
		} else if (r->action == A_SCORE) {
			wafa_log(WAFA_INFO, "web", "mail=%" PRId64 ": score %d recorded", t->mail_id,
			         t->score);
			page = page_thanks(l, t->score, &len);
			answer_stored(r->w, t->mail_id);
		} else {
			wafa_log(WAFA_INFO, "web", "mail=%" PRId64 ": comment recorded", t->mail_id);
			page = page_saved(l, &len);
			answer_stored(r->w, t->mail_id);
		}
	} else if (PQntuples(res) == 0) {
		wafa_log(WAFA_INFO, "web", "mail=%" PRId64 ": an unsubscribe link for a mail that is "
		         "not in the outbox; nothing recorded", t->mail_id);
		set_error(r, r->accept, E_UNKNOWN);
		goto out;
	} else if (r->action == A_CONFIRM) {
		bare_address(PQgetvalue(res, 0, 2), r->email, sizeof(r->email));
		l = lang_of_locale(PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0));
		page = page_confirm(l, r->email, &len);
	} else {
		bare_address(PQgetvalue(res, 0, 2), r->email, sizeof(r->email));
		l = PQgetisnull(res, 0, 0) ? EN : lang_of_locale(PQgetvalue(res, 0, 0));
		wafa_log(WAFA_INFO, "web", "mail=%" PRId64 ": opt-out recorded%s", t->mail_id,
		         PQntuples(res) && strcmp(PQgetvalue(res, 0, 1), "0") == 0 ? " (already there)"
		                                                                   : "");
		page = page_done(l, r->email, &len);
	}
	set_page(r, MHD_HTTP_OK, page, len);
out:
	wake(r);
	req_unref(r);
}

static enum MHD_Result reply(struct req *r, struct MHD_Connection *c, unsigned status,
                             char *body, size_t len, const char *type)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r)
		r->queued = true;
	if (!body)
		return MHD_NO; /* out of memory: MHD closes the connection */
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
	    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") != MHD_YES ||
	    MHD_add_response_header(resp, "Content-Security-Policy",
	                            "default-src 'none'; style-src 'unsafe-inline'; "
	                            "form-action 'self'; frame-ancestors 'none'") != MHD_YES ||
	    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer") != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, POST") != MHD_YES) ||
	    (status == MHD_HTTP_SERVICE_UNAVAILABLE &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_S) != MHD_YES)) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_page(struct req *r, struct MHD_Connection *c, unsigned status,
                                  char *page, size_t len)
{
	return reply(r, c, status, page, len, "text/html; charset=utf-8");
}

static enum MHD_Result reply_error(struct req *r, struct MHD_Connection *c, enum lang l,
                                   enum err e)
{
	size_t len = 0;
	char *page = page_error(l, e, &len);
	return reply_page(r, c, err_status[e], page, len);
}

/* Does a POST body ask to unsubscribe: List-Unsubscribe=One-Click (RFC
 * 8058) or the confirm form's confirm=1? */
static bool optout_body(const char *body, size_t n)
{
	char *v = NULL;
	bool yes = false;

	if (form_field(body, n, "List-Unsubscribe", &v) == 0 && v)
		yes = strncmp(v, "One-Click", 9) == 0 && strspn(v + 9, "\r\n ") == strlen(v + 9);
	free(v);
	v = NULL;
	if (!yes && form_field(body, n, "confirm", &v) == 0 && v)
		yes = strcmp(v, "1") == 0;
	free(v);
	return yes;
}

/* Sends the query for r and suspends its connection until the answer. */
static enum MHD_Result ask(struct req *r, struct MHD_Connection *c)
{
	struct wafa_web *w = r->w;
	const struct wafa_token *t = &r->tok;
	char id[24], score[8];
	char *comment = NULL;
	const char *sql, *p[4];
	int n, err;
	long chars = 0;

	snprintf(id, sizeof(id), "%" PRId64, t->mail_id);
	snprintf(score, sizeof(score), "%d", t->score);
	switch (r->action) {
	case A_SCORE:
	case A_COMMENT:
		if (r->too_big)
			return reply_error(r, c, r->accept, E_TOOLONG);
		if (r->action == A_COMMENT) {
			err = form_field(r->body ? r->body : "", r->len, "comment", &comment);
			if (err == -ENOMEM)
				return MHD_NO;
			if (err == -ENOENT) {
				/* not the page's form (it always sends the field): a
				 * scanner's POST gets the page, and records nothing */
				r->action = A_CHOOSE;
				return ask(r, c);
			}
			if (comment)
				lf_only(comment);
			if (err == -EBADMSG || (comment && (chars = utf8_chars(comment)) < 0)) {
				free(comment);
				return reply_error(r, c, r->accept, E_BADFORM);
			}
			if (comment && chars > COMMENT_MAX) {
				free(comment);
				return reply_error(r, c, r->accept, E_TOOLONG);
			}
			if (!comment || blank(comment)) {
				/* an empty comment box: the same as the click */
				free(comment);
				comment = NULL;
				r->action = A_SCORE;
			}
		}
		sql = r->action == A_SCORE ? score_sql : comment_sql;
		p[0] = id;
		p[1] = score;
		p[2] = comment;
		n = r->action == A_SCORE ? 2 : 3;
		break;
	case A_CHOOSE:
	case A_CONFIRM:
		sql = locale_sql;
		p[0] = id;
		n = 1;
		break;
	case A_METRICS:
		sql = oldest_sql;
		n = 0;
		break;
	default:
		/* RFC 8058's one-click body or the confirm form's field; any
		 * other POST (a scanner's) gets the confirm page */
		if (r->too_big || !optout_body(r->body ? r->body : "", r->len)) {
			r->action = A_CONFIRM;
			sql = locale_sql;
			p[0] = id;
			n = 1;
			break;
		}
		sql = optout_sql;
		p[0] = id;
		n = 1;
		break;
	}
	/* Suspended before the query goes out: pg may answer at once. */
	r->refs++;
	r->next = w->waiting;
	r->prev = NULL;
	if (w->waiting)
		w->waiting->prev = r;
	w->waiting = r;
	r->listed = true;
	MHD_suspend_connection(c);
	err = wafa_pg_query(w->pg, sql, n, p, on_result, r);
	free(comment);
	if (err) {
		if (err != -ENOTCONN && r->action == A_METRICS)
			wafa_log(WAFA_ERROR, "web", "metrics: %s", wafa_strerror(err));
		else if (err != -ENOTCONN)
			wafa_log(WAFA_ERROR, "web", "mail=%" PRId64 ": %s", t->mail_id, wafa_strerror(err));
		if (r->action == A_METRICS)
			set_metrics(r, -1.0); /* the counters without the outbox's age */
		else
			set_error(r, r->accept, err == -ENOTCONN ? E_UNAVAILABLE : E_INTERNAL);
		wake(r);
		r->refs--; /* no callback will come */
	}
	return MHD_YES;
}

/* The first call, on the headers: the route and the token, or an error
 * page at once. */
static enum MHD_Result begin(struct req *r, struct MHD_Connection *c, const char *url,
                             const char *method)
{
	struct wafa_web *w = r->w;
	const char *last = strrchr(url, '/'), *seg;
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	size_t seglen;
	int err;

	if (!get && !post)
		return reply_error(r, c, r->accept, E_METHOD);
	if (!last)
		return reply_error(r, c, r->accept, E_NOTFOUND);
	/* /health and /metrics at exact paths only: at the root, or under
	 * base_url's path; not at the end of any path (/a/b/metrics) */
	size_t bl = strlen(w->base_path);
	const char *local = strncmp(url, w->base_path, bl) == 0 && url[bl] == '/' ? url + bl : url;
	bool health = strcmp(url, "/health") == 0 || strcmp(local, "/health") == 0;
	bool metrics = strcmp(url, "/metrics") == 0 || strcmp(local, "/metrics") == 0;
	if ((strcmp(last + 1, "health") == 0 && !health) ||
	    (strcmp(last + 1, "metrics") == 0 && !metrics) || (metrics && w->metrics_elsewhere) ||
	    (w->metrics_only && !metrics && !health))
		return reply_error(r, c, r->accept, E_NOTFOUND);
	if (health) {
		char *ok = strdup("ok\n");
		return reply(r, c, MHD_HTTP_OK, ok, ok ? 3 : 0, "text/plain; charset=utf-8");
	}
	if (metrics) {
		if (!get)
			return reply_error(r, c, r->accept, E_METHOD);
		r->action = A_METRICS; /* answered after the outbox query */
		return MHD_YES;
	}
	for (seg = last; seg > url && seg[-1] != '/'; seg--)
		;
	seglen = (size_t)(last - seg);
	if (seglen != 1 || (seg[0] != 's' && seg[0] != 'u'))
		return reply_error(r, c, r->accept, E_NOTFOUND);
	err = wafa_token_check(w->key, w->keylen, last + 1, wafa_ms_to_s(wafa_clock_now_ms()),
	                       &r->tok);
	if (err == 0 && r->tok.kind != seg[0])
		err = -EBADMSG; /* a survey token on the unsubscribe path, or the reverse */
	if (err == -ETIME) {
		wafa_log(WAFA_INFO, "web", "mail=%" PRId64 ": an expired link; nothing recorded",
		         r->tok.mail_id);
		return reply_error(r, c, r->accept, E_EXPIRED);
	}
	if (err) {
		wafa_log(WAFA_INFO, "web", "%s /%c/: a link that does not verify (forged, altered or "
		         "cut short); nothing recorded", method, seg[0]);
		return reply_error(r, c, r->accept, E_INVALID);
	}
	if (seg[0] == 's') {
		/* a GET (a scanner's too) only shows the choice; a POST records */
		r->action = get ? A_CHOOSE : A_COMMENT;
		if (post) {
			const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
			                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
			if (cl && strtoull(cl, NULL, 10) > BODY_MAX)
				return reply_error(r, c, r->accept, E_TOOLONG);
		}
	} else {
		r->action = get ? A_CONFIRM : A_OPTOUT;
	}
	return MHD_YES;
}

/* A new connection idles at most HEADER_TIMEOUT_S until its headers are in
 * (on_request gives it CONN_TIMEOUT_S then). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)socket_ctx;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HEADER_TIMEOUT_S);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **ctx)
{
	struct wafa_web *w = cls;
	struct req *r = *ctx;
	enum MHD_Result ret;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->w = w;
		r->conn = c;
		r->refs = 1;
		r->accept = lang_of_accept(
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_LANGUAGE));
		*ctx = r;
		/* the headers are in: the body and the answer get the usual time */
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S);
		return begin(r, c, url, method);
	}
	if (r->queued) {
		*size = 0;
		return MHD_YES;
	}
	if (*size > 0) {
		/* only a comment's body is kept; the rest is read and dropped */
		if ((r->action == A_COMMENT || r->action == A_OPTOUT) && !r->too_big) {
			if (r->len + *size > BODY_MAX) {
				r->too_big = true;
			} else {
				char *b = realloc(r->body, r->len + *size + 1);
				if (!b)
					return MHD_NO;
				memcpy(b + r->len, data, *size);
				r->len += *size;
				b[r->len] = '\0';
				r->body = b;
			}
		}
		*size = 0;
		return MHD_YES;
	}
	if (!r->answered)
		return ask(r, c);
	ret = reply(r, c, r->status, r->page, r->page_len,
	            r->action == A_METRICS ? WAFA_METRICS_TYPE : "text/html; charset=utf-8");
	r->page = NULL; /* MHD frees it */
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
	struct req *r = *ctx;

	(void)cls;
	(void)c;
	(void)toe;
	if (!r)
		return;
	*ctx = NULL;
	if (r->w)
		unlist(r);
	r->conn = NULL;
	req_unref(r);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	wafa_log(WAFA_WARN, "web", "libmicrohttpd: %s", line);
}

/* "127.0.0.1:8087" or "[::1]:8087". */
static int parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *h = text;
	size_t hlen;
	char *end;
	unsigned long port;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = text + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - text);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end || errno || port == 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (text[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		if (uv_ip6_addr(host, (int)port, a) != 0)
			return -EINVAL;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		if (uv_ip4_addr(host, (int)port, a) != 0)
			return -EINVAL;
		*len = sizeof(*a);
	}
	return 0;
}

/* The path of "https://host/wafa/" without its last '/': "/wafa"; "" for none. */
static void base_path(const char *url, char *out, size_t size)
{
	const char *p = url ? strstr(url, "://") : NULL;
	size_t n;

	out[0] = '\0';
	if (!p || !(p = strchr(p + 3, '/')))
		return;
	n = strcspn(p, "?#");
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (n < size) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
}

static int listen_on(const struct sockaddr_storage *ss, socklen_t len, int *out)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1, err;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) != 0 || listen(fd, 128) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*out = fd;
	return 0;
}

/* A listener is freed when its handles (and its metrics listener) are closed. */
static void release(struct wafa_web *w)
{
	struct wafa_web *parent = w->parent;

	if (--w->handles > 0)
		return;
	if (w->done)
		w->done(w->done_arg);
	if (w->key) {
		OPENSSL_cleanse(w->key, w->keylen);
		free(w->key);
	}
	free(w->stamp_sql);
	free(w);
	if (parent)
		release(parent);
}

static void on_closed(uv_handle_t *h)
{
	release(h->data);
}

static void close_listener(struct wafa_web *w);

/* One listener on listen: the customers' (with the key) or, metrics_only,
 * [web] metrics_listen's. */
static int listener_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                         const char *listen, bool metrics_only, struct wafa_web **out)
{
	struct wafa_web *w = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const union MHD_DaemonInfo *info;
	int fd = -1, err;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	const char *key = metrics_only ? "metrics_listen" : "listen";

	*out = NULL;
	if (parse_listen(listen, &ss, &sslen) != 0) {
		wafa_log(WAFA_ERROR, "web", "%s: [web] %s = \"%s\": use a numeric HOST:PORT "
		         "(127.0.0.1:8087, [::1]:8087)", cfg->path ? cfg->path : "config", key, listen);
		return -EINVAL;
	}
	if (!MHD_is_feature_supported(MHD_FEATURE_EPOLL)) {
		wafa_log(WAFA_ERROR, "web", "this libmicrohttpd was built without epoll");
		return -ENOTSUP;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->pg = pg;
	w->metrics_only = metrics_only;
	if (!metrics_only) {
		char *view = cfg->view && cfg->view[0] ? wafa_pg_quote_ident(cfg->view) : NULL;
		base_path(cfg->web_base_url, w->base_path, sizeof(w->base_path));
		if (!view || asprintf(&w->stamp_sql, stamp_fmt, view) < 0)
			w->stamp_sql = NULL; /* answers are still stored, without the stamp
			                      * (no view: the unit tests' listener) */
		free(view);
	}
	if (!metrics_only && (err = wafa_token_key_load(cfg->web_key_file, &w->key, &w->keylen)) != 0) {
		/* a key others can read is refused (logged with the chmod to run):
		 * anyone who reads it can forge links */
		wafa_log(WAFA_ERROR, "web", "[web] key_file %s: %s", cfg->web_key_file,
		         err == -EINVAL ? "too short: it needs at least 32 bytes of random "
		                          "(head -c 32 /dev/urandom | base64 > FILE)"
		         : err == -EPERM ? "refused: group or others can read it (see above)"
		                         : wafa_strerror(err));
		goto fail;
	}
	if ((err = listen_on(&ss, sslen, &fd)) != 0) {
		wafa_log(WAFA_ERROR, "web", "[web] %s = %s: %s", key, listen, wafa_strerror(err));
		goto fail;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	w->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w,
	                          MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)w,
	                          MHD_OPTION_LISTEN_SOCKET, fd,
	                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)w,
	                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, (void *)w,
	                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
	                          MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_LIMIT,
	                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
	                          MHD_OPTION_END);
	if (!w->mhd) {
		/* MHD closes the socket on some of its failures and not others: a
		 * descriptor may be left open, which beats closing one twice. */
		wafa_log(WAFA_ERROR, "web", "[web] %s = %s: libmicrohttpd did not start", key, listen);
		err = -EIO;
		goto fail;
	}
	info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info || (err = uv_poll_init(loop, &w->poll, info->epoll_fd)) != 0) {
		err = info ? err : -EIO;
		wafa_log(WAFA_ERROR, "web", "cannot watch libmicrohttpd's epoll descriptor: %s",
		         wafa_strerror(err));
		MHD_stop_daemon(w->mhd);
		goto fail;
	}
	uv_timer_init(loop, &w->timer);
	w->poll.data = w->timer.data = w;
	w->handles = 2;
	if ((err = uv_poll_start(&w->poll, UV_READABLE, on_poll)) != 0) {
		wafa_log(WAFA_ERROR, "web", "cannot watch libmicrohttpd's epoll descriptor: %s",
		         wafa_strerror(err));
		w->closing = true;
		uv_close((uv_handle_t *)&w->poll, on_closed);
		uv_close((uv_handle_t *)&w->timer, on_closed);
		MHD_stop_daemon(w->mhd);
		return err; /* w is freed in on_closed, with done NULL */
	}
	wafa_log(WAFA_INFO, "web", "listening on %s%s", listen,
	         metrics_only ? " (/metrics and /health only)" : "");
	run(w);
	*out = w;
	return 0;
fail:
	if (w->key) {
		OPENSSL_cleanse(w->key, w->keylen);
		free(w->key);
	}
	free(w->stamp_sql);
	free(w);
	return err;
}

int wafa_web_open(uv_loop_t *loop, const struct wafa_config *cfg, struct wafa_pg *pg,
                  struct wafa_web **out)
{
	const char *ml = cfg->web_metrics_listen ? cfg->web_metrics_listen : "";
	struct wafa_web *w = NULL, *m = NULL;
	int err;

	*out = NULL;
	if (!cfg->web_listen || !cfg->web_listen[0])
		/* no customers' listener: perhaps metrics alone */
		return ml[0] ? listener_open(loop, cfg, pg, ml, true, out) : 0;
	if ((err = listener_open(loop, cfg, pg, cfg->web_listen, false, &w)) != 0)
		return err;
	if (ml[0]) {
		if ((err = listener_open(loop, cfg, pg, ml, true, &m)) != 0) {
			close_listener(w);
			return err;
		}
		/* /metrics on its own address only; w goes when m has gone too */
		w->metrics_elsewhere = true;
		w->metrics = m;
		m->parent = w;
		w->handles++;
	}
	*out = w;
	return 0;
}

static void close_listener(struct wafa_web *w)
{
	w->closing = true;
	/* MHD must not be stopped with suspended connections.  Their queries
	 * are still out: the callbacks find r->w NULL and only let go. */
	while (w->waiting) {
		struct req *r = w->waiting;
		unlist(r);
		r->w = NULL;
		MHD_resume_connection(r->conn);
	}
	/* the poll first: MHD closes the descriptor it watches */
	uv_close((uv_handle_t *)&w->poll, on_closed);
	uv_close((uv_handle_t *)&w->timer, on_closed);
	MHD_stop_daemon(w->mhd);
	w->mhd = NULL;
}

void wafa_web_close(struct wafa_web *w, void (*done)(void *arg), void *arg)
{
	if (!w) {
		if (done)
			done(arg);
		return;
	}
	w->done = done;
	w->done_arg = arg;
	if (w->metrics)
		close_listener(w->metrics);
	w->metrics = NULL;
	close_listener(w);
}

char *wafa_web_link(const struct wafa_config *cfg, const unsigned char *key, size_t keylen,
                    char kind, int64_t mail_id, const char *email, int score)
{
	struct wafa_token t = { 0 };
	char tok[WAFA_TOKEN_MAX];
	const char *base = cfg->web_base_url;
	size_t n;
	char *out;

	(void)email; /* the listener reads the address from the outbox row */
	if (!base || !base[0] || !key)
		return NULL;
	t.kind = kind;
	t.expires = wafa_ms_to_s(wafa_clock_now_ms() + cfg->link_ttl_ms);
	t.mail_id = mail_id;
	t.score = score;
	if (wafa_token_make(key, keylen, &t, tok) != 0)
		return NULL;
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (asprintf(&out, "%.*s/%c/%s", (int)n, base, kind, tok) < 0)
		return NULL;
	return out;
}
