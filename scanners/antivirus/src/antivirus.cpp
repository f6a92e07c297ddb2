#include "pampero/antivirus/antivirus.hpp"

#include <clamav.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "pampero/common/log.hpp"
#include "pampero/mime/mime_leaves.hpp"

namespace pampero::scan {
namespace {

// libclamav's own messages go to pampero's log (syslog mail), not to stderr.
void clamav_message(enum cl_msg severity, const char*, const char* msg, void*) {
    std::string_view m = msg ? msg : "";
    while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.remove_suffix(1);
    if (severity == CL_MSG_ERROR)
        log::error("libclamav: {}", m);
    else if (severity == CL_MSG_WARN)
        log::warning("libclamav: {}", m);
    else
        log::debug("libclamav: {}", m);
}

// cl_init must run once per process before any engine exists.
bool init_clamav() {
    static const cl_error_t rc = [] {
        cl_set_clcb_msg(clamav_message);
        return cl_init(CL_INIT_DEFAULT);
    }();
    return rc == CL_SUCCESS;
}

}  // namespace

std::string signature_fingerprint(const std::string& dir) {
    std::error_code ec;
    std::vector<std::string> parts;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (!e.is_regular_file(ec)) continue;
        const auto mtime = e.last_write_time(ec).time_since_epoch().count();
        parts.push_back(
            fmt::format("{}:{}:{}", e.path().filename().string(), e.file_size(ec), mtime));
    }
    if (ec) return "";
    std::sort(parts.begin(), parts.end());
    std::string fp;
    for (const auto& p : parts) fp += p + ";";
    return fp;
}

Antivirus::~Antivirus() {
    if (engine_) cl_engine_free(engine_);
}

Result<std::shared_ptr<const Antivirus>> Antivirus::load(const std::string& dir,
                                                         std::uint64_t max_size,
                                                         const std::string& tmpdir) {
    if (!init_clamav()) return Error::config("libclamav: cl_init failed");
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        return Error::config(fmt::format("antivirus signatures {}: not a folder", dir));
    }
    std::shared_ptr<Antivirus> av(new Antivirus());
    av->fingerprint_ = signature_fingerprint(dir);
    av->max_size_ = max_size;
    av->engine_ = cl_engine_new();
    if (!av->engine_) return Error::config("libclamav: cannot create an engine");
    const auto limit = static_cast<long long>(max_size);
    cl_engine_set_num(av->engine_, CL_ENGINE_MAX_FILESIZE, limit);
    cl_engine_set_num(av->engine_, CL_ENGINE_MAX_SCANSIZE, limit * 4);
    if (!tmpdir.empty()) {
        if (!std::filesystem::is_directory(tmpdir, ec)) {
            return Error::config(fmt::format("antivirus tmpdir {}: not a folder", tmpdir));
        }
        cl_engine_set_str(av->engine_, CL_ENGINE_TMPDIR, tmpdir.c_str());
    }
    const cl_error_t rc = cl_load(dir.c_str(), av->engine_, &av->signatures_, CL_DB_STDOPT);
    if (rc != CL_SUCCESS) {
        return Error::config(fmt::format("antivirus signatures {}: {}", dir, cl_strerror(rc)));
    }
    if (av->signatures_ == 0) {
        return Error::config(fmt::format("antivirus signatures {}: no signatures loaded", dir));
    }
    const cl_error_t crc = cl_engine_compile(av->engine_);
    if (crc != CL_SUCCESS) {
        return Error::config(fmt::format("antivirus signatures {}: {}", dir, cl_strerror(crc)));
    }
    return std::shared_ptr<const Antivirus>(std::move(av));
}

VirusScan Antivirus::scan_buffer(std::string_view data, const char* name, bool mail_parser) const {
    cl_fmap_t* map = cl_fmap_open_memory(data.data(), data.size());
    if (!map) return {VirusScan::Outcome::error, "libclamav: cannot map the message"};
    cl_scan_options opts{};
    opts.parse = mail_parser ? ~0u : ~0u & ~CL_SCAN_PARSE_MAIL;  // archives, documents, ... always
    opts.general = CL_SCAN_GENERAL_HEURISTICS;
    const char* virus = nullptr;
    unsigned long scanned = 0;
    const cl_error_t rc = cl_scanmap_callback(map, name, &virus, &scanned, engine_, &opts, nullptr);
    cl_fmap_close(map);
    if (rc == CL_CLEAN) return {};
    if (rc == CL_VIRUS) return {VirusScan::Outcome::virus, virus ? virus : "unknown"};
    return {VirusScan::Outcome::error, fmt::format("libclamav: {}", cl_strerror(rc))};
}

VirusScan Antivirus::scan(std::string_view data, const ParsedMime* parsed) const {
    if (data.size() > max_size_) {
        return {VirusScan::Outcome::skipped,
                fmt::format("{} bytes over max_size {}", data.size(), max_size_)};
    }
    // The message as sent first (signatures written for mail itself, anything in its
    // bytes), then each part as GMime decodes it (see mime_leaves.hpp for why not
    // libclamav's mail parser, and when it is still used).
    const MimeLeaves leaves = mime_leaves(data, parsed);
    VirusScan r = scan_buffer(data, "message", leaves.whole_message);
    for (std::size_t i = 0; i < leaves.contents.size() && r.outcome == VirusScan::Outcome::clean;
         ++i) {
        r = scan_buffer(leaves.contents[i], "part", false);
    }
    return r;
}

Status AntivirusWatcher::refresh() {
    const std::string fp = signature_fingerprint(dir_);
    if (auto cur = current_.get(); cur && fp == cur->fingerprint()) return ok_status();
    // Gone, unreadable or emptied (freshclam mid-rewrite, an admin's mistake): said once,
    // and the running engine keeps serving; its return is a change like any other.
    if (fp.empty()) {
        if (missing_reported_) return ok_status();
        missing_reported_ = true;
        return Error::temporary(
            fmt::format("antivirus signatures {}: folder missing, unreadable or empty; the running "
                        "signatures keep serving",
                        dir_));
    }
    missing_reported_ = false;
    if (failed_fingerprint_ && fp == *failed_fingerprint_) return ok_status();  // reported
    auto next =
        Antivirus::load(dir_, max_size_, tmpdir_);  // built beside the old one, no lock held
    if (!next) {
        failed_fingerprint_ = fp;
        return next.error();
    }
    failed_fingerprint_.reset();
    current_.set(*next);
    return ok_status();
}

}  // namespace pampero::scan
