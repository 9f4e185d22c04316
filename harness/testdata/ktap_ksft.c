// SPDX-License-Identifier: GPL-2.0
/*
 * Every result kselftest.h can print, for the harness's KTAP parser. With
 * an argument it skips everything before its plan (a feature that is
 * absent: "1..0 # SKIP", exit 4). Output kept in ktap_ksft.out and
 * ktap_ksft_absent.out.
 */
#include "kselftest.h"

int main(int argc, char **argv)
{
	ksft_print_header();
	if (argc > 1)
		ksft_exit_skip("no memory hotplug in this kernel\n");
	ksft_set_plan(6);
	ksft_test_result_pass("passes\n");
	ksft_test_result_fail("fails\n");
	ksft_test_result_xfail("xfails\n");
	ksft_test_result_code(KSFT_XPASS, "xpasses", "%s", "the bug is gone");
	ksft_test_result_skip("skips\n");
	ksft_test_result_error("errors\n");
	ksft_finished();
}
