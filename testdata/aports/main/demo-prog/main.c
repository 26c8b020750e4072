#include <stdio.h>
#include <demo.h>

int main(void)
{
	printf("the answer is %d\n", demo_answer());
	return 0;
}
