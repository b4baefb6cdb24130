<?php
// Drives a real FreeScout 1.8 through its own code, for
// tests/integration/freescout_real.py:
//   php freescout.php ROOT COMMAND JSON
// prints one JSON object.  A customer's mail goes through its mail
// fetcher's saveCustomerThread() (the fetch without the IMAP part); an
// agent's reply, note, status change, undo and delete through its HTTP
// routes (ConversationsController), handled in this process as the given
// user would send them from the web UI; mail leaves through its queue
// (SendReplyToCustomer) and the mailbox's SMTP settings.
$root = $argv[1];
$cmd = $argv[2];
$arg = json_decode($argv[3] ?? '{}', true);
chdir($root);
require $root.'/vendor/autoload.php';
$app = require $root.'/bootstrap/app.php';

function out($v)
{
    echo json_encode($v), "\n";
    exit(0);
}

if ($cmd === 'http') {
    // the web UI's request, as the logged-in user; the CSRF token is the
    // browser's business and is not checked here
    $app->bind(\App\Http\Middleware\VerifyCsrfToken::class, function () {
        return new class {
            public function handle($request, $next)
            {
                return $next($request);
            }
        };
    });
    $kernel = $app->make(Illuminate\Contracts\Http\Kernel::class);
    $request = Illuminate\Http\Request::create($arg['uri'], $arg['method'], $arg['params'] ?? [],
                                               [], [], ['HTTP_X_REQUESTED_WITH' => 'XMLHttpRequest',
                                                        'HTTP_ACCEPT' => 'application/json']);
    $app->booted(function ($app) use ($arg) {
        $app['auth']->guard()->setUser(\App\User::where('email', $arg['as'])->firstOrFail());
    });
    $response = $kernel->handle($request);
    $body = $response->getContent();
    $kernel->terminate($request, $response);
    out(['code' => $response->getStatusCode(), 'body' => json_decode($body, true) ?? substr($body, 0, 2000)]);
}

$kernel = $app->make(Illuminate\Contracts\Console\Kernel::class);
$kernel->bootstrap();

switch ($cmd) {
case 'mailbox':
    // a mailbox that sends through SMTP at host:port, and its users
    $m = new \App\Mailbox();
    $m->name = $arg['name'];
    $m->email = $arg['email'];
    $m->out_method = \App\Mailbox::OUT_METHOD_SMTP;
    $m->out_server = $arg['host'];
    $m->out_port = $arg['port'];
    $m->out_encryption = \App\Mailbox::OUT_ENCRYPTION_NONE;
    $m->out_username = '';
    $m->out_password = '';
    $m->ticket_status = \App\Mailbox::TICKET_STATUS_PENDING;
    $m->save();
    $m->createPublicFolders();
    $m->syncPersonalFolders(\App\User::pluck('id')->all());
    $m->users()->sync(\App\User::pluck('id')->all());
    out(['id' => $m->id]);
case 'customer_mail':
    // what freescout:fetch-emails does with a fetched mail: a new
    // conversation, or a follow-up when it answers one (by In-Reply-To)
    $mailbox = \App\Mailbox::findOrFail($arg['mailbox_id']);
    $prev = null;
    if (!empty($arg['in_reply_to'])) {
        $prev = \App\Thread::where('message_id', $arg['in_reply_to'])->firstOrFail();
    }
    $fetch = new \App\Console\Commands\FetchEmails();
    $fetch->setLaravel($app);
    $fetch->mailbox = $mailbox;
    $r = $fetch->saveCustomerThread($mailbox, $arg['message_id'], $prev, $arg['from'], [$mailbox->email],
                                    [], [], $arg['subject'], $arg['body'], [], '', null);
    $t = \App\Thread::where('message_id', $arg['message_id'])->firstOrFail();
    out(['conversation' => $t->conversation_id, 'number' => $t->conversation->number, 'thread' => $t->id]);
case 'threads':
    out(\App\Thread::where('conversation_id', $arg['conversation'])->orderBy('id')
        ->get(['id', 'type', 'state', 'status', 'send_status', 'action_type', 'created_at'])->toArray());
case 'conversation':
    out(\App\Conversation::findOrFail($arg['id'])->toArray());
}
fwrite(STDERR, "freescout.php: unknown command $cmd\n");
exit(64);
