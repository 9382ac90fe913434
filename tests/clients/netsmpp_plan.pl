#!/usr/bin/env perl
# Drives the third-party Perl SMPP client Net::SMPP (Debian libnet-smpp-perl) through a plan given
# as JSON on argv[0] and prints the outcome of every step as JSON, like smpplib_plan.py:
#   {"host": "127.0.0.1", "port": 2775, "steps": [ ... ]} with steps
#   {"op": "bind", "mode": "trx|tx|rx", "system_id": "...", "password": "..."} -> {"status": n}
#   {"op": "submit", "count": n, "window": w, "to": "1415...", "text": "...",
#    "from": "MyBank", "registered_delivery": 0|1}                          -> statuses, ids, rate
#   {"op": "wait_receipts", "count": n, "timeout": s}                       -> receipts, items
#   {"op": "idle", "seconds": s}  (reads, answering the router's enquire_link) -> {"receipts": n}
#   {"op": "enquire_link"}                                                  -> {"status": n}
#   {"op": "unbind"}                                                        -> {"status": n}
# The router's enquire_links are answered while reading; deliver_sm is answered with
# deliver_sm_resp.
use strict;
use warnings;
use JSON::PP;
use Net::SMPP;
use Time::HiRes qw(time);
use IO::Select;

my $plan = decode_json($ARGV[0]);
my $c = Net::SMPP->new_connect($plan->{host}, port => $plan->{port}, async => 1, timeout => 5)
    or die "cannot connect: $!";
my $sel = IO::Select->new($c);
my (@receipts, %responses);

use constant {
    DELIVER_SM => 0x00000005, ENQUIRE_LINK => 0x00000015, UNBIND => 0x00000006,
    GENERIC_NACK => 0x80000000,
};

# Reads one PDU (waiting up to $wait seconds); answers what the router asks; keeps responses by seq.
sub pump {
    my ($wait) = @_;
    return 0 unless $sel->can_read($wait);
    my $pdu = $c->read_pdu() or die "connection lost";
    my $cmd = $pdu->{cmd};
    if ($cmd == DELIVER_SM) {
        my $text = $pdu->{short_message} // '';
        my $id = $pdu->{receipted_message_id} // '';
        $id =~ s/\0+$//;
        push @receipts, { id => $id, text => $text, esm_class => $pdu->{esm_class} };
        $c->deliver_sm_resp(seq => $pdu->{seq}, message_id => '');
    } elsif ($cmd == ENQUIRE_LINK) {
        $c->enquire_link_resp(seq => $pdu->{seq});
    } elsif ($cmd == UNBIND) {
        $c->unbind_resp(seq => $pdu->{seq});
    } elsif ($cmd & 0x80000000) {
        my $id = $pdu->{message_id} // '';
        $id =~ s/\0+$//;
        $responses{$pdu->{seq}} = { status => $pdu->{status}, id => $id };
    }
    return 1;
}

sub wait_resp {
    my ($seq) = @_;
    my $deadline = time() + 10;
    while (!exists $responses{$seq}) {
        die "no response to seq $seq" if time() > $deadline;
        pump(1);
    }
    return delete $responses{$seq};
}

my @out;
for my $s (@{ $plan->{steps} }) {
    my $op = $s->{op};
    if ($op eq 'bind') {
        my %m = (trx => 'bind_transceiver', tx => 'bind_transmitter', rx => 'bind_receiver');
        my $method = $m{ $s->{mode} // 'trx' };
        my $seq = $c->$method(system_id => $s->{system_id}, password => $s->{password});
        push @out, { status => wait_resp($seq)->{status} };
    } elsif ($op eq 'submit') {
        my ($count, $window) = ($s->{count} // 1, $s->{window} // 1);
        my $from = $s->{from} // 'MyBank';
        my $ton = $from =~ /^\d+$/ ? 1 : 5;
        my (%pending, %statuses, @ids);
        my ($sent, $done) = (0, 0);
        my $t0 = time();
        while ($done < $count) {
            while ($sent < $count && keys(%pending) < $window) {
                my $seq = $c->submit_sm(
                    source_addr_ton => $ton, source_addr => $from,
                    dest_addr_ton => 1, dest_addr_npi => 1,
                    destination_addr => $s->{to} // '14155551234',
                    short_message => $s->{text} // 'Your code is 482910',
                    registered_delivery => $s->{registered_delivery} // 0);
                $pending{$seq} = 1;
                $sent++;
            }
            pump(5) or die "stalled: no response within 5 s";
            for my $seq (keys %pending) {
                next unless exists $responses{$seq};
                my $r = delete $responses{$seq};
                delete $pending{$seq};
                $statuses{ $r->{status} }++;
                push @ids, $r->{id} if @ids < ($s->{all_ids} ? $count : 5);
                $done++;
            }
        }
        my $elapsed = time() - $t0;
        push @out, { statuses => \%statuses, ids => \@ids,
                     rate => $elapsed > 0 ? $count / $elapsed : 0 };
    } elsif ($op eq 'wait_receipts') {
        my $deadline = time() + ($s->{timeout} // 10);
        pump(0.2) while @receipts < $s->{count} && time() < $deadline;
        my $show = $s->{show} // 0;
        my @items = @receipts[0 .. ($show < @receipts ? $show : scalar @receipts) - 1];
        push @out, { receipts => scalar @receipts, items => \@items };
    } elsif ($op eq 'idle') {
        my $until = time() + ($s->{seconds} // 1);
        while (time() < $until) { pump(0.1); }
        push @out, { closed => JSON::PP::false, receipts => scalar @receipts };
    } elsif ($op eq 'enquire_link') {
        my $seq = $c->enquire_link();
        push @out, { status => wait_resp($seq)->{status} };
    } elsif ($op eq 'unbind') {
        my $seq = $c->unbind();
        push @out, { status => wait_resp($seq)->{status} };
    } else {
        die "unknown op $op";
    }
}
print encode_json(\@out), "\n";
