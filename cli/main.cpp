// pamperoctl: the admin's command line. Every command is one line of output per fact
// (or --json where noted), a one-line error and a non-zero exit on bad input:
//   1  bad input (malformed address, unknown user or level)   75 temporary failure
//   64 bad usage                                              78 configuration error
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "pampero/common/config.hpp"
#include "pampero/common/log.hpp"

using namespace pampero;
using namespace pampero::cli;

int main(int argc, char** argv) {
    // Library messages (mirror loads, libclamav) go to stderr, labelled as ours.
    log::open("pamperoctl", true);
    CLI::App app("pampero's admin command line", "pamperoctl");
    app.require_subcommand(1);
    std::string config_path = kDefaultConfigPath;
    app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
    app.set_version_flag("--version", std::string("pamperoctl ") + PAMPERO_VERSION);

    Context ctx{config_path};
    std::function<int()> action;
    auto on = [&](CLI::App* cmd, std::function<int()> fn) {
        cmd->callback([&action, fn] { action = fn; });
    };

    // domain
    auto* domain = app.add_subcommand("domain", "local domains")->require_subcommand(1);
    std::string dom;
    auto* d_add = domain->add_subcommand("add", "add a local domain");
    d_add->add_option("DOMAIN", dom)->required();
    on(d_add, [&] { return domain_add(ctx, dom); });
    auto* d_del = domain->add_subcommand("del", "remove a domain and its users");
    d_del->add_option("DOMAIN", dom)->required();
    on(d_del, [&] { return domain_del(ctx, dom); });
    on(domain->add_subcommand("list", "list local domains"), [&] { return domain_list(ctx); });

    // user
    auto* user = app.add_subcommand("user", "mail users")->require_subcommand(1);
    UserOptions uo;
    std::string address;
    auto* u_add = user->add_subcommand("add", "add a user");
    u_add->add_option("ADDRESS", address)->required();
    u_add->add_option("--level", uo.level, "spam level (default: the levels file's default)");
    u_add->add_option("--quota", uo.quota, "quota such as 300M (default: the store's default)");
    u_add->add_option("--node", uo.node, "storage node (default: store.node)");
    u_add->add_option("--maildir", uo.maildir,
                      "maildir under mail_root (default: DOMAIN/LOCALPART/)");
    on(u_add, [&] { return user_add(ctx, address, uo); });
    std::string level_arg;
    auto* u_lvl = user->add_subcommand("set-level", "change a user's spam level");
    u_lvl->add_option("ADDRESS", address)->required();
    u_lvl->add_option("LEVEL", level_arg)->required();
    on(u_lvl, [&] { return user_set_level(ctx, address, level_arg); });
    LimitOptions lo;
    auto* u_lim = user->add_subcommand(
        "set-limits", "a user's own outbound rate limits (N, 0: none, default: the site's)");
    u_lim->add_option("ADDRESS", address)->required();
    u_lim->add_option("--messages-per-hour", lo.messages_per_hour, "messages an hour");
    u_lim->add_option("--recipients-per-hour", lo.recipients_per_hour, "recipients an hour");
    u_lim->add_option("--recipients-per-message", lo.recipients_per_message,
                      "recipients of one message");
    on(u_lim, [&] { return user_set_limits(ctx, address, lo); });
    auto* u_show = user->add_subcommand("show", "show a user");
    u_show->add_option("ADDRESS", address)->required();
    on(u_show, [&] { return user_show(ctx, address); });
    auto* u_del = user->add_subcommand("del", "remove a user");
    u_del->add_option("ADDRESS", address)->required();
    on(u_del, [&] { return user_del(ctx, address); });
    MigrateOptions mo;
    auto* u_mig =
        user->add_subcommand("migrate", "move a mailbox: deliver to both locations until --finish");
    u_mig->add_option("ADDRESS", address)->required();
    u_mig->add_option("--node", mo.node, "start: the storage node the mailbox moves to");
    u_mig->add_option("--maildir", mo.maildir,
                      "start: its maildir there (default: the current one)");
    u_mig->add_flag("--finish", mo.finish,
                    "the copy is complete: the new location becomes the only one");
    u_mig->add_flag("--cancel", mo.cancel, "stop delivering to the new location");
    on(u_mig, [&] { return user_migrate(ctx, address, mo); });
    auto* u_list = user->add_subcommand("list", "list users");
    u_list->add_option("DOMAIN", dom);
    on(u_list, [&] { return user_list(ctx, dom); });

    // alias
    auto* alias = app.add_subcommand("alias", "aliases")->require_subcommand(1);
    std::string target;
    auto* a_add = alias->add_subcommand("add", "add an alias");
    a_add->add_option("ADDRESS", address)->required();
    a_add->add_option("TARGET", target)->required();
    on(a_add, [&] { return alias_add(ctx, address, target); });
    auto* a_del = alias->add_subcommand("del", "remove an alias");
    a_del->add_option("ADDRESS", address)->required();
    on(a_del, [&] { return alias_del(ctx, address); });

    // level
    auto* level = app.add_subcommand("level", "spam levels")->require_subcommand(1);
    on(level->add_subcommand("list", "list the spam levels"), [&] { return level_list(ctx); });

    // list
    auto* list = app.add_subcommand("list", "white and black lists")->require_subcommand(1);
    std::string kind, pattern, list_user;
    for (const char* verb : {"add", "del"}) {
        auto* c = list->add_subcommand(verb, std::string(verb) + " a list entry");
        c->add_option("KIND", kind, "white or black")->required();
        c->add_option("PATTERN", pattern, "an address or @domain")->required();
        c->add_option("--user", list_user, "the user's own list (default: global)");
        const bool add = std::string(verb) == "add";
        on(c, [&, add] { return list_change(ctx, add, kind, pattern, list_user); });
    }
    auto* l_show = list->add_subcommand("show", "show a list");
    l_show->add_option("--user", list_user, "the user's own list (default: global)");
    on(l_show, [&] { return list_show(ctx, list_user); });

    // contacts
    auto* contacts = app.add_subcommand("contacts", "users' address books")->require_subcommand(1);
    std::string file;
    auto* c_imp = contacts->add_subcommand("import", "import a vCard or CSV address book");
    c_imp->add_option("ADDRESS", address)->required();
    c_imp->add_option("FILE", file)->required();
    on(c_imp, [&] { return contacts_import(ctx, address, file); });
    auto* c_show = contacts->add_subcommand("show", "show a user's contacts");
    c_show->add_option("ADDRESS", address)->required();
    on(c_show, [&] { return contacts_show(ctx, address); });

    // scan
    ScanOptions so;
    auto* scan =
        app.add_subcommand("scan", "score messages as the milter would, with an explanation");
    scan->add_option("FILE", so.files, "message files")->required();
    scan->add_option("--rcpt", so.recipients, "recipient (repeatable; default: the default level)");
    scan->add_option("--from", so.sender, "envelope sender");
    scan->add_option("--client-ip", so.client_ip,
                     "the SMTP client's address (for the DNS blocklists)");
    scan->add_flag("--json", so.json, "one JSON object per message");
    scan->add_option("--for", so.for_address,
                     "score with this address's classifier model (classifier.model)");
    on(scan, [&] { return scan_files(ctx, so); });

    // learn, classifier
    std::string learn_what;
    std::vector<std::string> learn_paths;
    bool learn_verbose = false;
    auto* learn_cmd = app.add_subcommand("learn",
                                         "train the classifier: learn spam|ham|forget "
                                         "FILE|DIR|-... (files, mbox, Maildir, - stdin)");
    learn_cmd->add_option("WHAT", learn_what, "spam, ham or forget")->required();
    learn_cmd
        ->add_option("PATH", learn_paths,
                     "message files, mbox files, folders, or - (one message on standard input)")
        ->required();
    learn_cmd->add_flag("-v,--verbose", learn_verbose, "one line per message");
    std::string learn_for;
    learn_cmd->add_option("--for", learn_for,
                          "learn into this address's model (classifier.model domain or user)");
    on(learn_cmd, [&] { return learn(ctx, learn_what, learn_paths, learn_verbose, learn_for); });
    auto* cls =
        app.add_subcommand("classifier", "the statistical classifier")->require_subcommand(1);
    std::string stats_for;
    auto* cls_stats = cls->add_subcommand("stats", "what the classifier's store holds");
    cls_stats->add_option("--for", stats_for,
                          "the model of this address (classifier.model domain or user)");
    on(cls_stats, [&] { return classifier_stats(ctx, stats_for); });

    // blocklist, mirror
    auto* blocklist =
        app.add_subcommand("blocklist", "DNSBL/URIBL lists as configured")->require_subcommand(1);
    BlocklistLookupOptions blo;
    auto* bl_look =
        blocklist->add_subcommand("lookup", "look addresses or domains up in the lists");
    bl_look->add_option("SUBJECT", blo.subjects, "IPv4 addresses or domain names")->required();
    bl_look->add_option("--zone", blo.zone, "only this list");
    bl_look->add_flag("--json", blo.json, "one JSON object per list and subject");
    on(bl_look, [&] { return blocklist_lookup(ctx, blo); });
    auto* bl_check = blocklist->add_subcommand("check", "RFC 5782 test points of every list");
    bl_check->add_option("--zone", blo.zone, "only this list");
    on(bl_check, [&] { return blocklist_check(ctx, blo.zone); });
    auto* mirror = app.add_subcommand("mirror", "blocklist mirror files")->require_subcommand(1);
    MirrorSyncOptions mso;
    auto* m_sync = mirror->add_subcommand(
        "sync", "fetch every list's sync: source, check it, put it in place");
    m_sync->add_option("--zone", mso.zone, "only this list");
    m_sync
        ->add_option("--min-ratio", mso.min_ratio,
                     "refuse a file with fewer entries than this share of the current one")
        ->capture_default_str();
    m_sync->add_option("--timeout", mso.timeout, "seconds rsync may take per list")
        ->capture_default_str();
    on(m_sync, [&] { return mirror_sync(ctx, mso); });

    // migrate-directory
    std::string mig_from, mig_to;
    bool mig_force = false;
    auto* migrate = app.add_subcommand(
        "migrate-directory", "copy a whole directory to another (e.g. sqlite: to mariadb:)");
    migrate->add_option("FROM", mig_from, "the directory copied (opened read-only)")->required();
    migrate->add_option("TO", mig_to, "the directory written (schema created if new)")->required();
    migrate->add_flag("--force", mig_force,
                      "merge into a non-empty TO (users in both take FROM's values)");
    on(migrate, [&] { return migrate_directory(mig_from, mig_to, mig_force); });

    // verdict-key
    auto* vkey =
        app.add_subcommand("verdict-key", "keys signing the spam verdict")->require_subcommand(1);
    std::string key_file, key_id;
    auto* vk_new = vkey->add_subcommand(
        "new", "make FILE with a new key, or add one (last: verifies, does not sign)");
    vk_new->add_option("FILE", key_file)->required();
    vk_new->add_option("--id", key_id, "key id (default kYYYYMMDD-N)");
    on(vk_new, [&] { return verdict_key_new(key_file, key_id); });
    auto* vk_pro = vkey->add_subcommand("promote", "make key ID the signing (first) key of FILE");
    vk_pro->add_option("FILE", key_file)->required();
    vk_pro->add_option("ID", key_id)->required();
    on(vk_pro, [&] { return verdict_key_promote(key_file, key_id); });

    // sessions (RADIUS, asked of pampero-policyd)
    auto* sessions = app.add_subcommand("sessions", "RADIUS sessions: list, or show IP");
    std::string session_ip;
    auto* s_show = sessions->add_subcommand("show", "the session holding an address");
    s_show->add_option("IP", session_ip)->required();
    sessions->callback([&] {
        action = s_show->parsed()
                     ? std::function<int()>([&] { return sessions_show(ctx, session_ip); })
                     : std::function<int()>([&] { return sessions_list(ctx); });
    });

    // ban, ratelimit (asked of pampero-policyd)
    auto* ban = app.add_subcommand("ban", "dictionary-attack bans: list, del IP");
    ban->require_subcommand(1);
    on(ban->add_subcommand("list", "the bans in force"), [&] { return ban_list(ctx); });
    std::string ban_ip;
    auto* ban_d = ban->add_subcommand("del", "lift the ban on an address (its network)");
    ban_d->add_option("IP", ban_ip)->required();
    on(ban_d, [&] { return ban_del(ctx, ban_ip); });
    auto* ratelimit = app.add_subcommand("ratelimit", "outbound rate counters: show USER|IP");
    ratelimit->require_subcommand(1);
    std::string rl_key;
    auto* rl_show = ratelimit->add_subcommand(
        "show", "the hourly counters of a SASL user, RADIUS subscriber or client address");
    rl_show->add_option("KEY", rl_key)->required();
    on(rl_show, [&] { return ratelimit_show(ctx, rl_key); });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : EX_USAGE;
    }
    return action ? action() : EX_USAGE;
}
