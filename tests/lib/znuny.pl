#!/usr/bin/perl
# Drives a real Znuny 7 through its own code, for
# tests/integration/znuny_real.py:
#   perl znuny.pl ROOT COMMAND JSON
# prints one JSON object.  A customer's mail goes through Znuny's PostMaster
# (which files a follow-up by the ticket number in the subject, reopens a
# closed ticket and sends the queue's auto reply); an agent works through
# the Perl API the way its screens do (AgentTicketCompose: ArticleSend, then
# TicketStateSet with the reply's ArticleID); mail leaves through its mail
# queue and its SMTP module.
use strict;
use warnings;

my ( $Root, $Cmd, $ArgJSON ) = @ARGV;
unshift @INC, $Root, "$Root/Kernel/cpan-lib", "$Root/Custom";
require Kernel::System::ObjectManager;
require JSON::PP;
require Kernel::System::PostMaster;
require Time::HiRes;

local $Kernel::OM = Kernel::System::ObjectManager->new(
    'Kernel::System::Log' => { LogPrefix => 'wafa-test' },
);
my $Arg           = JSON::PP::decode_json( $ArgJSON || '{}' );
my $TicketObject  = $Kernel::OM->Get('Kernel::System::Ticket');
my $ArticleObject = $Kernel::OM->Get('Kernel::System::Ticket::Article');

sub Out {
    print JSON::PP->new->canonical->encode(shift), "\n";
    exit 0;
}

sub Fail {
    print STDERR "znuny.pl $Cmd: @_\n";
    exit 1;
}

sub AgentID {
    my $ID = $Kernel::OM->Get('Kernel::System::User')->UserLookup( UserLogin => 'layla' );
    return $ID || Fail("no agent");
}

if ( $Cmd eq 'setup' ) {
    # the system address (Znuny refuses znuny@localhost), an agent, the auto
    # reply on the queue PostMaster files new mail in
    my $SystemAddressObject = $Kernel::OM->Get('Kernel::System::SystemAddress');
    my %Address = $SystemAddressObject->SystemAddressGet( ID => 1 );
    $SystemAddressObject->SystemAddressUpdate(
        %Address, ID => 1, Name => $Arg->{address}, Realname => 'Support', UserID => 1,
    ) || Fail("SystemAddressUpdate");
    my $UserID = $Kernel::OM->Get('Kernel::System::User')->UserAdd(
        UserFirstname => 'Layla', UserLastname => 'Haddad', UserLogin => 'layla',
        UserEmail => $Arg->{agent_email}, ValidID => 1, ChangeUserID => 1,
    ) || Fail("UserAdd");
    my $GroupObject = $Kernel::OM->Get('Kernel::System::Group');
    for my $Group (qw(users admin)) {
        $GroupObject->PermissionGroupUserAdd(
            GID => $GroupObject->GroupLookup( Group => $Group ), UID => $UserID,
            Permission => { rw => 1, ro => 1 }, UserID => 1,
        );
    }
    $Kernel::OM->Get('Kernel::System::AutoResponse')->AutoResponseQueue(
        QueueID => 1, AutoResponseIDs => [1, 3], UserID => 1,
    ) || Fail("AutoResponseQueue");
    Out( { agent => $UserID } );
}
elsif ( $Cmd eq 'run' ) {
    # the steps in order, in this one process; each result with the times
    # it began and was done
    my @Out;
    for my $Step ( @{ $Arg->{steps} } ) {
        my $Begin  = Time::HiRes::time();
        my $Result = Step($Step);
        push @Out, { %{$Result}, begin => $Begin, at => Time::HiRes::time() };
    }
    Out( \@Out );
}

sub Step {
    my $S  = shift;
    my $Op = $S->{op};
    if ( $Op eq 'sleep' ) {
        Time::HiRes::sleep( $S->{seconds} );
        return {};
    }
    if ( $Op eq 'mail' ) {
        # a customer's mail, as Maint::PostMaster::Read hands it over
        my @Lines = map {"$_\n"} split /\n/, $S->{raw};
        my $CommunicationLogObject = $Kernel::OM->Create(
            'Kernel::System::CommunicationLog',
            ObjectParams => { Transport => 'Email', Direction => 'Incoming', AccountType => 'STDIN' },
        );
        $CommunicationLogObject->ObjectLogStart( ObjectLogType => 'Message' );
        my @Return = $Kernel::OM->Create(
            'Kernel::System::PostMaster',
            ObjectParams => {
                CommunicationLogObject => $CommunicationLogObject, Email => \@Lines, Trusted => 1,
            },
        )->Run();
        $CommunicationLogObject->ObjectLogStop( ObjectLogType => 'Message', Status => 'Successful' );
        $CommunicationLogObject->CommunicationStop( Status => 'Successful' );
        Fail("PostMaster: @Return") if !$Return[1];
        my %Ticket = $TicketObject->TicketGet( TicketID => $Return[1] );
        return { result => $Return[0], id => $Return[1], tn => $Ticket{TicketNumber} };
    }
    if ( $Op eq 'reply' ) {
        # AgentTicketCompose: the answer, then the next state with its ArticleID
        my $UserID = AgentID();
        my %Ticket = $TicketObject->TicketGet( TicketID => $S->{ticket} );
        my $ArticleID = $ArticleObject->BackendForChannel( ChannelName => 'Email' )->ArticleSend(
            TicketID => $S->{ticket}, SenderType => 'agent', IsVisibleForCustomer => 1,
            From => "Support <$S->{from}>", To => $S->{to},
            Subject => "RE: [Ticket#$Ticket{TicketNumber}] $Ticket{Title}",
            Body => 'An answer.', Charset => 'utf-8', MimeType => 'text/plain',
            HistoryType => 'SendAnswer', HistoryComment => "\%\%$S->{to}", UserID => $UserID,
        ) || Fail("ArticleSend");
        if ( $S->{state} ) {
            $TicketObject->TicketStateSet(
                TicketID => $S->{ticket}, ArticleID => $ArticleID, State => $S->{state},
                UserID => $UserID,
            ) || Fail("TicketStateSet");
        }
        return { article => $ArticleID };
    }
    if ( $Op eq 'state' ) {
        # AgentTicketClose / AgentTicketPending without an article
        my $UserID = AgentID();
        $TicketObject->TicketStateSet(
            TicketID => $S->{ticket}, State => $S->{state}, UserID => $UserID,
        ) || Fail("TicketStateSet");
        if ( $S->{pending_minutes} ) {
            $TicketObject->TicketPendingTimeSet(
                TicketID => $S->{ticket}, Diff => $S->{pending_minutes}, UserID => $UserID,
            ) || Fail("TicketPendingTimeSet");
        }
        return {};
    }
    if ( $Op eq 'owner' ) {
        $TicketObject->TicketOwnerSet(
            TicketID => $S->{ticket}, NewUserID => AgentID(), UserID => 1,
        ) || Fail("TicketOwnerSet");
        return {};
    }
    if ( $Op eq 'merge' ) {
        $TicketObject->TicketMerge(
            MainTicketID => $S->{main}, MergeTicketID => $S->{merge}, UserID => AgentID(),
        ) || Fail("TicketMerge");
        return {};
    }
    if ( $Op eq 'send' ) {
        # what the daemon's mail queue task does
        my $MailQueueObject = $Kernel::OM->Get('Kernel::System::MailQueue');
        my $Items = $MailQueueObject->List() || [];
        my $Sent = 0;
        for my $Item ( @{$Items} ) {
            $Sent++ if $MailQueueObject->Send( %{$Item} );
        }
        return { sent => $Sent, queued => scalar @{$Items} };
    }
    Fail("unknown step $Op");
}
Fail("unknown command");
