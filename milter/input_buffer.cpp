#include "input_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace pampero::milter {

namespace {

std::size_t page_rounded(std::size_t n) {
    static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return (n + page - 1) / page * page;
}

bool mapped(std::size_t capacity) {
    return capacity >= InputBuffer::kMapFrom;
}

void release(char* p, std::size_t capacity) {
    if (!p) return;
    if (mapped(capacity)) {
        ::munmap(p, capacity);
    } else {
        delete[] p;
    }
}

}  // namespace

InputBuffer::InputBuffer(std::size_t initial, std::size_t min_read, std::size_t keep,
                         std::size_t max)
    : initial_(std::max(initial, min_read)),
      min_read_(min_read),
      keep_(std::max(keep, initial_)),
      max_(std::max(max, initial_)) {
    reallocate(initial_);
}

InputBuffer::~InputBuffer() {
    release(storage_, capacity_);
}

void InputBuffer::consume(std::size_t n) {
    begin_ += std::min(n, end_ - begin_);
    if (begin_ == end_) begin_ = end_ = 0;
}

std::span<char> InputBuffer::prepare() {
    if (begin_ == end_) {
        begin_ = end_ = 0;
        // The packet that needed the room is over; give the room back.
        if (capacity_ > keep_) reallocate(initial_);
    }
    if (capacity_ - end_ < min_read_ && begin_ > 0) {
        std::memmove(storage_, storage_ + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
    }
    // Still short: more than capacity - min_read octets are held, so doubling keeps the
    // capacity below twice what was actually received plus min_read.
    if (capacity_ - end_ < min_read_ && capacity_ < max_) reallocate(std::min(capacity_ * 2, max_));
    return {storage_ + end_, capacity_ - end_};
}

void InputBuffer::commit(std::size_t n) {
    end_ += std::min(n, capacity_ - end_);
}

void InputBuffer::reallocate(std::size_t capacity) {
    if (mapped(capacity)) capacity = page_rounded(capacity);
    if (capacity == capacity_) return;
    const std::size_t held = end_ - begin_;
    if (begin_ > 0) {
        std::memmove(storage_, storage_ + begin_, held);
        begin_ = 0;
        end_ = held;
    }
    char* fresh = nullptr;
    if (mapped(capacity) && mapped(capacity_)) {
        // The kernel moves the pages: no copy, and untouched pages stay unbacked.
        void* p = ::mremap(storage_, capacity_, capacity, MREMAP_MAYMOVE);
        if (p == MAP_FAILED) throw std::bad_alloc();
        storage_ = static_cast<char*>(p);
        capacity_ = capacity;
        return;
    }
    if (mapped(capacity)) {
        void* p =
            ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
        fresh = static_cast<char*>(p);
    } else {
        fresh = new char[capacity];  // uninitialized: pages are touched only by reads
    }
    if (held > 0) std::memcpy(fresh, storage_, held);
    release(storage_, capacity_);
    storage_ = fresh;
    capacity_ = capacity;
}

}  // namespace pampero::milter
