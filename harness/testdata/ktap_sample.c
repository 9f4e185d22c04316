// SPDX-License-Identifier: GPL-2.0
/*
 * Every result kselftest_harness.h can print, for the harness's KTAP
 * parser: pass, fail, skip, and a variant marked XFAIL_ADD() that fails
 * (XFAIL) or passes (XPASS). Built and run on the host by the harness
 * self-test against the kernel tree's headers; its output is kept in
 * ktap_sample.out.
 */
#include "kselftest_harness.h"

TEST(passes)
{
	ASSERT_EQ(1, 1);
}

TEST(fails)
{
	TH_LOG("a diagnostic line before the failure");
	ASSERT_EQ(1, 2);
}

TEST(skips)
{
	SKIP(return, "the feature is absent");
}

FIXTURE(block) {
	int size;
};

FIXTURE_VARIANT(block) {
	int size;
};

FIXTURE_VARIANT_ADD(block, small) {
	.size = 1,
};

FIXTURE_VARIANT_ADD(block, large) {
	.size = 2,
};

FIXTURE_SETUP(block)
{
	self->size = variant->size;
}

FIXTURE_TEARDOWN(block)
{
}

TEST_F(block, is_small)
{
	ASSERT_EQ(1, self->size);
}

XFAIL_ADD(block, large, is_small);
XFAIL_ADD(block, small, is_small);

TEST_HARNESS_MAIN
